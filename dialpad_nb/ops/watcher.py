"""``watch()``: a warning *before* Dialpad disables a router, and a word when it is healthy again.

Each poll feeds the source's new attempts into a :class:`~dialpad_nb.health.FleetTracker` and
looks at every router's level (assumption ``warning_level``, ``core.policy.WARNING_LEVELS``):

* a router that reaches ``warning`` (budget <= 3, or disabled in under 30 min at the recent pace)
  or ``disabled`` opens an **incident**: one line on stdout and, with an alert URL, one
  ``{"text": ...}`` POST;
* an open incident whose router is then disabled sends one more (``escalated``), once;
* the incident is **resolved** (one line, one POST) only when the router is enabled again with
  a budget >= 6 and no forecast under 60 min (hysteresis: a router hovering at the edge does
  not flap);
* incidents and undelivered alerts live in a small state file (:class:`WatchState`): a restart
  re-reads the source to rebuild the windows and sends nothing twice;
* an alert the webhook does not accept stays in the outbox, is logged (stderr) and retried on
  every poll, in order, until it is delivered: the incident is never lost.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from typing import IO, Any

from ..core.alerts import AlertPoster
from ..core.clock import format_time
from ..core.errors import DialpadError
from ..core.policy import DIALPAD, WARNING_LEVELS, Policy, WarningLevels
from ..health.tracker import FleetTracker
from .sources import Source
from .watch_state import WatchState

__all__ = ["Watcher", "watch"]


class Watcher:
    """One watcher over one source; :meth:`poll` once, or :meth:`run` until stopped."""

    def __init__(
        self,
        source: Source,
        *,
        state: str | Any = None,
        alert_url: str | None = None,
        policy: Policy = DIALPAD,
        levels: WarningLevels = WARNING_LEVELS,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
        transport: Any = None,
    ) -> None:
        self.source = source
        self.state = WatchState.load(state)
        self.tracker = FleetTracker(policy, levels)
        self.poster = None if alert_url is None else AlertPoster(alert_url, transport=transport)
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr

    def __repr__(self) -> str:
        return f"<Watcher on {self.source.label}: {len(self.state.incidents)} open incidents>"

    def close(self) -> None:
        if self.poster is not None:
            self.poster.close()

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _emit(self, rid: int, kind: str, text: str, now: int) -> None:
        print(text, file=self.out, flush=True)
        if self.poster is not None:
            self.state.outbox.append({"router_id": rid, "kind": kind, "text": text, "at": now})

    def _deliver(self) -> int:
        """Send the outbox in order; stop at the first failure (retried next poll). Returns how many are left."""
        if self.poster is None:
            return 0
        while self.state.outbox:
            reason = self.poster.post(self.state.outbox[0]["text"])
            if reason is not None:
                print(
                    f"dialpad-nb watch: {reason}; {len(self.state.outbox)} alert(s) kept, retried next poll",
                    file=self.err,
                    flush=True,
                )
                break
            self.state.outbox.pop(0)
            self.state.save()
        return len(self.state.outbox)

    def poll(self) -> list[dict[str, Any]]:
        """Read what is new, open/escalate/resolve incidents, send alerts. Returns the messages of this
        poll (``{"router_id", "kind", "text"}``)."""
        now = self.source.poll(self.tracker)
        when = f"{format_time(now)}"
        messages: list[dict[str, Any]] = []
        for rid in sorted(self.tracker.routers):
            level = self.tracker.level(rid, now)
            incident = self.state.incidents.get(rid)
            name = self.tracker.routers[rid].name or str(rid)
            what = self.tracker.describe(rid, now)
            kind = None
            if incident is None and level in ("warning", "disabled"):
                kind = "alert"
                self.state.incidents[rid] = {"level": level, "opened_at": now, "router": name}
                head = "DISABLED" if level == "disabled" else "WARNING: near auto-disable"
                text = f"[dialpad-nb] {head}: {what} ({when})"
            elif incident is not None and level == "disabled" and incident["level"] != "disabled":
                kind = "escalated"
                incident["level"] = "disabled"
                text = f"[dialpad-nb] NOW DISABLED: {what} ({when})"
            elif incident is not None and self.tracker.clear(rid, now):
                kind = "resolved"
                del self.state.incidents[rid]
                text = f"[dialpad-nb] RESOLVED: {what} ({when})"
            if kind is not None:
                self._emit(rid, kind, text, now)
                messages.append({"router_id": rid, "kind": kind, "text": text})
        self.state.save()
        self._deliver()
        return messages

    def run(
        self,
        interval_s: float,
        *,
        polls: int | None = None,
        stop: threading.Event | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> int:
        """Poll every ``interval_s`` seconds (``polls`` times, or until ``stop`` is set). A source that
        cannot be read is reported on stderr and tried again at the next poll. Returns the polls done."""
        stop = stop or threading.Event()
        done = 0
        while polls is None or done < polls:
            try:
                self.poll()
            except (DialpadError, OSError) as exc:
                print(f"dialpad-nb watch: {self.source.label}: {exc}; retrying", file=self.err, flush=True)
                if on_error is not None:
                    on_error(exc)
            done += 1
            if (polls is not None and done >= polls) or stop.wait(interval_s):
                break
        return done


def watch(
    client: Any = None,
    *,
    routers: Iterable[Any] | None = None,
    log: str | None = None,
    router_id: int | None = None,
    source: str = "auto",
    state: str | None = None,
    alert_url: str | None = None,
    interval_s: float = 60.0,
    polls: int | None = None,
    stop: threading.Event | None = None,
    levels: WarningLevels = WARNING_LEVELS,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> Watcher:
    """Watch routers and warn before Dialpad disables one (see the module docstring).

    The source: ``log`` (an endpoint kit log of router ``router_id``, tailed); else ``client``
    (``connect()`` when None): its sandbox's attempts (``source="sandbox"``; the default on a
    sandbox) or Dialpad's call history (``source="history"``; the default on an account).
    ``routers``: names or ids to follow (default: all). ``state``: the state file that makes a
    restart send nothing twice. ``alert_url``: a chat tool's incoming webhook. Runs ``polls``
    polls (None: until ``stop`` is set) and returns the :class:`Watcher` (closed)."""
    from .sources import HistorySource, LogSource, SandboxSource

    owned = None
    if log is not None:
        if router_id is None:
            from ..core.errors import ValidationError

            raise ValidationError("the endpoint log is one router's: give its id", field="router_id")
        src: Source = LogSource(log, router_id=router_id)
    else:
        if client is None:
            from ..connection import connect

            client = owned = connect()
        use_sandbox = source == "sandbox" or (source == "auto" and client.capabilities.control_api)
        src = (
            SandboxSource(client, routers=routers) if use_sandbox else HistorySource(client, routers=routers)
        )
    try:
        with Watcher(src, state=state, alert_url=alert_url, levels=levels, out=out, err=err) as watcher:
            watcher.run(interval_s, polls=polls, stop=stop)
        return watcher
    finally:
        if owned is not None:
            owned.close()
