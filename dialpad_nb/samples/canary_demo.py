"""Live calls through an endpoint that tries a candidate: what notebook 06 runs on the sandbox.

:func:`route_through` (sandbox only) serves a routing-endpoint app (built with shadows and a
canary by the caller), puts a router with Harbor & Pine's four lines in front of it, and
returns a :class:`LiveDemo` whose :meth:`~LiveDemo.place` places seeded calls (callers and times
from :func:`~dialpad_nb.samples.generate.generate_calls`) at their simulated times. Everything
shown is deterministic: seeded calls, the sandbox's simulated clock (also the endpoint's), and
seeded ids; only real HTTP timings vary.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..core.models import CallRouter
from ..core.serving import ServedApp, serve_app
from .generate import TIMEZONE, generate_calls

__all__ = ["LiveDemo", "route_through"]


@dataclass
class LiveDemo:
    """A sandbox router in front of a served endpoint; :meth:`place` routes seeded calls."""

    client: Any = field(repr=False)
    router: CallRouter
    app: Any = field(repr=False)
    endpoint: ServedApp = field(repr=False)
    calls: pd.DataFrame = field(repr=False)
    timezone: str = TIMEZONE
    placed: int = 0
    batches: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def url(self) -> str:
        return self.endpoint.url

    def place(self, n: int, *, label: str = "", one_by_one: bool = True) -> pd.DataFrame:
        """Place the next ``n`` seeded calls at their times; one row of what Dialpad did with them.

        ``one_by_one`` (default): each call's record (its shadows, and the canary's counts) is
        complete before the next call is placed, so what the canary decides never depends on
        thread timing; otherwise the calls go in one batch (faster; fine when nothing can stop)."""
        part = self.calls.iloc[self.placed : self.placed + n]
        control = self.client.control
        kit = self.app.state.endpoint
        calls = [
            {"to": to, "from": caller, "at": max(at, control.clock())}
            for to, caller, at in zip(
                part["internal_number"].tolist(),
                part["external_number"].tolist(),
                part["date_started"].astype("int64").tolist(),
                strict=True,
            )
        ]
        records = []
        for batch in ([c] for c in calls) if one_by_one else [calls]:
            records += control.place_calls(batch)
            if not kit.wait_idle(30):
                raise TimeoutError("the endpoint did not finish writing its records within 30 s")
        self.placed += len(part)
        outcomes = pd.Series([r["outcome"] for r in records], dtype="string").value_counts()
        local = pd.to_datetime(part["date_started"], unit="ms", utc=True).dt.tz_convert(self.timezone)
        row = {
            "batch": label or f"calls {self.placed - len(part) + 1}-{self.placed}",
            "from": local.iloc[0].strftime("%a %d %b %H:%M %Z") if len(part) else "",
            "to": local.iloc[-1].strftime("%a %d %b %H:%M %Z") if len(part) else "",
            "calls": len(records),
            **{o: int(outcomes.get(o, 0)) for o in sorted(outcomes.index)},
        }
        self.batches.append(row)
        return pd.DataFrame([row]).fillna(0)

    def summary(self) -> pd.DataFrame:
        """Every batch placed so far (times in the demo's timezone)."""
        return pd.DataFrame(self.batches).fillna(0)

    def stop(self) -> None:
        """Stop the endpoint (the router and its history stay in the sandbox)."""
        self.endpoint.stop()

    def __repr__(self) -> str:
        return f"LiveDemo(router={self.router.name!r}, endpoint={self.url}, calls placed={self.placed})"

    def _repr_html_(self) -> str:
        return (
            f"<p>{html.escape(self.router.name)}: routing URL {html.escape(self.url)}/route, "
            f"{len(self.router.phone_numbers)} numbers, {self.placed} calls placed</p>"
        )


def route_through(
    client: Any,
    app: Any,
    *,
    secret: str,
    calls: int = 400,
    seed: int = 6,
    start: str = "2026-10-12",
    days: int = 2,
    name: str = "Harbor & Pine main lines",
) -> LiveDemo:
    """Serve ``app`` (a routing endpoint verifying ``secret``), point a new sandbox router with
    the sample company's lines at it, and plan ``calls`` seeded calls over ``days`` from ``start``
    (local dates). Sandbox only (``client.control``)."""
    client.control  # noqa: B018 - SandboxOnly on a real account: these would be real calls
    served = serve_app(app, name="routing-endpoint")
    try:
        router = client.create_router(
            name=name, routing_url=served.url + "/route", default_target="Reception", secret=secret
        )
        planned = generate_calls(calls, seed=seed, start=start, days=days)
        for number in sorted(planned["internal_number"].unique()):
            client.assign_number(router.id, number=number)
    except BaseException:
        served.stop()
        raise
    return LiveDemo(client, client.get_router(router.id), app, served, planned)
