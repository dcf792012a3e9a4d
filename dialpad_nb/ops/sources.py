"""Where the watcher and the dashboard read the fleet from; each :meth:`poll` feeds only what is new
into a :class:`~dialpad_nb.health.FleetTracker` and returns the source's *now* (UTC ms).

* :class:`SandboxSource` -- a sandbox (embedded, or ``dialpad-nb sandbox --db FILE`` through
  ``connect()``'s env vars): the routers, the sandbox's attempts (``/sandbox/v1/attempts``, read
  forward from the last page seen) and each router's exact error window; its clock is simulated.
* :class:`HistorySource` -- a Dialpad account: the routers and Dialpad's call history
  (``call.list``), polled from the last call seen (less an overlap: calls appear once concluded);
  calls already seen are skipped by id.
* :class:`LogSource` -- the endpoint kit's JSONL log, tailed: each file of the log (its rotated
  generations too, gzipped or not) is followed by its first line and byte offset, so a rotation between two polls loses
  and repeats nothing. A partial last line waits for the next poll.

A source that cannot be reached raises (``TransportError``, ``OSError``...): the caller keeps its
last good numbers and says how old they are.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from ..core.clock import SystemClock, to_ms
from ..core.endpoint_log import log_files
from ..core.errors import SandboxOnly
from ..health.attempts import read_endpoint_log
from ..health.history import from_dialpad_calls
from ..health.tracker import FleetTracker

__all__ = ["HistorySource", "LogSource", "SandboxSource", "Source"]


class Source(Protocol):
    label: str

    def poll(self, tracker: FleetTracker) -> int: ...

    def router_attempts(self, router_id: int) -> pd.DataFrame: ...

    def directory(self) -> Any: ...


def _wanted(routers: Iterable[Any] | None) -> set[str] | None:
    return None if routers is None else {str(r) for r in routers}


def _follows(wanted: set[str] | None, router: Any) -> bool:
    return wanted is None or str(router.id) in wanted or router.name in wanted


class SandboxSource:
    """The routers and attempts of a sandbox, through a :class:`~dialpad_nb.DialpadClient` on it."""

    def __init__(self, client: Any, *, routers: Iterable[Any] | None = None) -> None:
        if not client.capabilities.control_api:
            raise SandboxOnly("this client talks to a Dialpad account: use HistorySource (call history)")
        self.client = client
        self.label = f"sandbox attempts at {client.base_url}"
        self._wanted = _wanted(routers)
        self._cursor: str | None = None  # the cursor of the last page read (re-read, new items kept)
        self._last_id = 0

    def _new_attempts(self) -> list[dict[str, Any]]:
        control = self.client.control
        new: list[dict[str, Any]] = []
        cursor = self._cursor
        while True:
            page = control.attempt_page(cursor, limit=1000)
            items = [a for a in page["items"] if int(a["attempt_id"]) > self._last_id]
            new.extend(items)
            if items:
                self._last_id = int(items[-1]["attempt_id"])
            if not page.get("cursor"):
                return new
            cursor = self._cursor = page["cursor"]

    def poll(self, tracker: FleetTracker) -> int:
        control = self.client.control
        routers = [r for r in self.client.list_routers() if _follows(self._wanted, r)]
        ids = {r.id for r in routers}
        attempts = [a for a in self._new_attempts() if a.get("router_id") in ids]
        tracker.ingest(attempts)
        now = control.clock()
        for r in routers:
            window = control.router_errors(r.id)
            tracker.observe(
                r.id,
                now=now,
                enabled=bool(window["enabled"]),
                name=r.name,
                numbers=r.phone_numbers,
                error_times=window["error_times"],
            )
        return now

    def router_attempts(self, router_id: int) -> pd.DataFrame:
        """Every attempt of one router (the drill-down), in the attempts shape."""
        from ..health.attempts import from_sandbox

        return from_sandbox(self.client.control.attempt_records(router_id)).attempts

    def directory(self) -> Any:
        return self.client.targets()


class HistorySource:
    """The routers and Dialpad's call history of an account (polled), through a client."""

    OVERLAP_MS = 15 * 60 * 1000

    def __init__(
        self, client: Any, *, routers: Iterable[Any] | None = None, lookback_s: float = 3600.0
    ) -> None:
        self.client = client
        self.label = f"call history of {client.label}"
        self._wanted = _wanted(routers)
        self._lookback_ms = round(lookback_s * 1000)
        self._since: int | None = None
        self._seen: set[int] = set()

    def poll(self, tracker: FleetTracker) -> int:
        clock = getattr(self.client, "clock", None) or SystemClock()
        now = clock.now_ms()
        routers = [r for r in self.client.list_routers() if _follows(self._wanted, r)]
        since = now - self._lookback_ms if self._since is None else self._since - self.OVERLAP_MS
        calls = self.client.calls(since=pd.Timestamp(since, unit="ms", tz="UTC"), progress=False)
        read = from_dialpad_calls(calls)
        attempts = read.attempts
        ids = {r.id for r in routers}
        fresh = attempts[
            attempts["router_id"].isin(ids).fillna(False)
            & ~attempts["call_id"].isin(self._seen).fillna(False)
        ]
        self._seen.update(int(c) for c in fresh["call_id"].dropna())
        tracker.ingest(fresh)
        if len(attempts):
            self._since = max(self._since or 0, to_ms(attempts["time"].max()))
        elif self._since is None:
            self._since = since
        for r in routers:
            tracker.observe(r.id, now=now, enabled=r.enabled, name=r.name, numbers=r.phone_numbers)
        return now

    def router_attempts(self, router_id: int) -> pd.DataFrame:
        """The router's calls of the last ``lookback_s`` from Dialpad's call history (the drill-down)."""
        clock = getattr(self.client, "clock", None) or SystemClock()
        since = pd.Timestamp(clock.now_ms() - self._lookback_ms, unit="ms", tz="UTC")
        return from_dialpad_calls(self.client.calls(router_id, since=since, progress=False)).attempts

    def directory(self) -> Any:
        return self.client.targets()


class LogSource:
    """The endpoint kit's log of one router, tailed (rotation-safe)."""

    def __init__(
        self, path: str | os.PathLike, *, router_id: int, name: str | None = None, clock: Any = None
    ) -> None:
        self.path = Path(path)
        self.router_id = int(router_id)
        self.name = name
        self.clock = clock or SystemClock()
        self.label = f"endpoint log {self.path}"
        self._offsets: dict[str, int] = {}  # generation (sha256 of its first line) -> bytes read
        self.rejected = 0

    def _new_lines(self) -> list[bytes]:
        """The complete lines not read yet, across the log's generations. A generation is known by
        its first line (a record with its time and call id), whatever its name or compression, so
        a file rotated -- and gzipped -- between two polls is read on from where it was left."""
        lines: list[bytes] = []
        for f in log_files(self.path):
            try:
                opener = gzip.open if f.suffix == ".gz" else open
                with opener(f, "rb") as fh:
                    data = fh.read()
            except FileNotFoundError:  # rotated or compressed between listing and opening: next poll
                continue
            first = data.find(b"\n") + 1
            if not first:
                continue  # not one complete line yet
            key = hashlib.sha256(data[:first]).hexdigest()
            start = self._offsets.get(key, 0)
            end = data.rfind(b"\n") + 1  # a partial last line waits
            if end > start:
                lines.extend(data[start:end].splitlines(keepends=True))
                self._offsets[key] = end
        return lines

    def poll(self, tracker: FleetTracker) -> int:
        lines = self._new_lines()
        if lines:
            read = read_endpoint_log(io.BytesIO(b"".join(lines)), router_id=self.router_id)
            self.rejected += len(read.rejects)
            tracker.ingest(read.attempts)
        now = self.clock.now_ms()
        tracker.observe(self.router_id, now=now, name=self.name)
        return now

    def router_attempts(self, router_id: int) -> pd.DataFrame:
        return read_endpoint_log(self.path, router_id=self.router_id).attempts

    def directory(self) -> Any:
        return None
