"""A few days of call history in the sandbox, with an incident: what notebook 05 reads.

:func:`make_call_history` (sandbox only) puts a router with Harbor & Pine's four lines in front of
a routing endpoint (the endpoint kit running the rules you give it, behind a
:class:`~dialpad_nb.health.FaultSwitch`) and places a seeded few hundred calls at their times
(callers and times from :func:`~dialpad_nb.samples.generate.generate_calls`), in phases:

1. **healthy** until the incident;
2. **failing**: the endpoint answers 503 from ``incident[0]`` to ``incident[1]`` (local time);
   the 11th error inside an hour disables the router, and later calls go to the default
   target without a request;
3. **fixed, still disabled**: the endpoint is healthy again but nobody has re-enabled the router;
4. **re-enabled** at ``reenable`` (one PATCH: enabled, error count reset), healthy to the end.

Everything is deterministic: the seeded calls, the sandbox's simulated clock and seeded ids
(only real HTTP timings vary, and nothing shown depends on them).
"""

from __future__ import annotations

import html
import secrets
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..core.models import CallRouter
from ..core.serving import ServedApp, serve_app
from ..endpoint.app import routing_endpoint
from ..health.endpoint_probe import FaultSwitch
from .generate import CAMPAIGN_START, TIMEZONE, generate_calls

__all__ = ["HistoryDemo", "make_call_history"]

PHASES = ("healthy", "failing (503)", "fixed, router still disabled", "re-enabled")


@dataclass
class HistoryDemo:
    """What :func:`make_call_history` set up and what happened in each phase (``phases``)."""

    router: CallRouter
    endpoint: ServedApp = field(repr=False)
    switch: FaultSwitch = field(repr=False)
    phases: pd.DataFrame
    timezone: str

    def stop(self) -> None:
        """Stop the routing endpoint (the router keeps its history)."""
        self.endpoint.stop()

    def __repr__(self) -> str:
        return f"HistoryDemo(router={self.router.name!r}, calls={int(self.phases['calls'].sum())})\n{self.phases.to_string(index=False)}"

    def _repr_html_(self) -> str:
        caption = html.escape(
            f"{self.router.name}: {int(self.phases['calls'].sum())} calls placed (times in {self.timezone})"
        )
        return f"<p>{caption}</p>" + self.phases.to_html(index=False, na_rep="")


def _weeks_to_clear(now_ms: int, start: str, tz: str) -> int:
    """Whole weeks to move a story starting on ``start`` (local date) so that it begins after ``now_ms``
    (a simulated clock never goes back); 0 when it already does. Whole weeks keep its weekdays."""
    begins = pd.Timestamp(start, tz=tz).tz_convert("UTC").value // 1_000_000
    if begins - 120_000 > now_ms:
        return 0
    return int((now_ms - begins + 120_000) // (7 * 86_400_000)) + 1


def _local(ms: int, tz: str) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms", tz="UTC").tz_convert(tz)


def make_call_history(
    client: Any,
    rules: Any,
    *,
    calls: int = 600,
    days: int = 3,
    start: str = "2026-10-05",
    seed: int = 5,
    incident: tuple[str, str] = ("2026-10-07 13:00", "2026-10-07 14:00"),
    reenable: str = "2026-10-07 15:00",
    name: str = "Harbor & Pine main lines",
    timezone: str = TIMEZONE,
) -> HistoryDemo:
    """Fill a sandbox with ``calls`` seeded calls over ``days`` from ``start`` (local dates in
    ``timezone``) on one router whose endpoint runs ``rules`` (a rule set or any ``decide``), with
    the incident described in the module docstring. Sandbox only (``client.control``). On a sandbox
    whose clock is already past ``start`` (one served elsewhere: its simulated clock never goes back)
    the same story is told whole weeks later, so its weekdays and hours stay as they are."""
    control = client.control  # SandboxOnly on a real account: these calls would be real calls
    weeks = _weeks_to_clear(control.clock(), start, timezone)
    if weeks:  # a sandbox whose clock is past the story (one served elsewhere): the same story, weeks later
        later = pd.Timedelta(weeks=weeks)
        start = (pd.Timestamp(start) + later).strftime("%Y-%m-%d")
        incident = (str(pd.Timestamp(incident[0]) + later), str(pd.Timestamp(incident[1]) + later))
        reenable = str(pd.Timestamp(reenable) + later)
    default = getattr(rules, "default", None)  # a rule set answers its default when nothing matches
    fallback = (
        (default.target_id, default.target_type)
        if default is not None
        else client.resolve_target("Reception")
    )
    secret = secrets.token_urlsafe(32)
    kit = routing_endpoint(rules, secret=secret, fallback=fallback, clock=client.clock)
    switch = FaultSwitch(kit)
    served = serve_app(switch, name="routing-endpoint")
    try:
        router = client.create_router(
            name=name, routing_url=served.url + "/route", default_target="Reception", secret=secret
        )
        campaign = str((pd.Timestamp(CAMPAIGN_START) + pd.Timedelta(weeks=weeks)).date())
        planned = generate_calls(calls, seed=seed, start=start, days=days, campaign_start=campaign)
        for number in sorted(planned["internal_number"].unique()):
            client.assign_number(router.id, number=number)
        t_fail, t_fixed = (
            pd.Timestamp(t, tz=timezone).tz_convert("UTC").value // 1_000_000 for t in incident
        )
        t_on = pd.Timestamp(reenable, tz=timezone).tz_convert("UTC").value // 1_000_000
        when = planned["date_started"].to_numpy()
        bounds = [int(when[0]), t_fail, t_fixed, t_on, int(when[-1]) + 1]
        control.set_clock(int(when[0]) - 60_000)
        rows = []
        for i, phase in enumerate(PHASES):
            if phase == "failing (503)":
                switch.fail(503)
            else:
                switch.restore()
            if phase == "re-enabled":
                control.set_clock(max(control.clock(), t_on))
                client.update_router(router.id, enabled=True, reset_error_count=True)
            part = planned[(when >= bounds[i]) & (when < bounds[i + 1])]
            batch = [
                {"to": to, "from": caller, "at": at}
                for to, caller, at in zip(
                    part["internal_number"].tolist(),
                    part["external_number"].tolist(),
                    part["date_started"].astype("int64").tolist(),
                    strict=True,
                )
            ]
            placed = control.place_calls(batch) if batch else []
            outcomes = pd.Series([p["outcome"] for p in placed], dtype="string").value_counts()
            rows.append(
                {
                    "phase": phase,
                    "from": _local(bounds[i], timezone).strftime("%a %d %b %H:%M %Z"),
                    "to": _local(bounds[i + 1], timezone).strftime("%a %d %b %H:%M %Z"),
                    "calls": len(placed),
                    **{o: int(outcomes.get(o, 0)) for o in ("ok", "http_status", "skipped_disabled")},
                }
            )
        switch.restore()
    except BaseException:
        served.stop()
        raise
    phases = pd.DataFrame(rows)
    return HistoryDemo(client.get_router(router.id), served, switch, phases, timezone)
