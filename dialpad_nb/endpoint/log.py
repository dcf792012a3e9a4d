"""The endpoint kit's JSONL log writer: one record per request (format in
:mod:`dialpad_nb.core.endpoint_log`), appended from many threads, the recent ones kept
in memory. The secret and the raw token are never written."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.endpoint_log import LOG_FIELDS, LOG_OUTCOMES, make_record

__all__ = ["LOG_FIELDS", "LOG_OUTCOMES", "EndpointLog", "make_record"]


class EndpointLog:
    """Append-only JSONL log, safe to append from many threads.

    With ``path`` each record is appended (and flushed) to the file; the last
    ``keep`` records are also held in memory for :meth:`records`."""

    def __init__(self, path: str | Path | None = None, *, keep: int = 10_000) -> None:
        self.path = Path(path) if path is not None else None
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lock = threading.Condition()
        self._appended = 0
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"
        with self._lock:
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(line)
            self._recent.append(dict(record))
            self._appended += 1
            self._lock.notify_all()

    def records(self) -> list[dict[str, Any]]:
        """The most recent records held in memory (oldest first)."""
        with self._lock:
            return list(self._recent)

    def wait_for_call(self, call_id: int, timeout_s: float = 10.0) -> dict[str, Any]:
        """The record of ``call_id``, waiting (up to ``timeout_s``) until it is logged.

        A request whose caller gave up (Dialpad's deadline) is logged only when the
        endpoint answers; this waits for that. ``TimeoutError`` if it never comes."""

        def find() -> dict[str, Any] | None:
            return next((r for r in reversed(self._recent) if r.get("call_id") == call_id), None)

        with self._lock:
            if not self._lock.wait_for(lambda: find() is not None, timeout_s):
                raise TimeoutError(f"no log record for call {call_id} within {timeout_s:g} s")
            return dict(find())  # type: ignore[arg-type]

    def wait_for(self, count: int, timeout_s: float = 10.0, *, strict: bool = True) -> int:
        """Wait until at least ``count`` requests were logged since this log was made; the number
        logged. If they do not come in time: ``TimeoutError`` naming how many came, or, with
        ``strict=False``, just the number that came (watching for real calls on an account)."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._appended >= count, timeout_s) and strict:
                raise TimeoutError(f"{self._appended} of {count} requests were logged within {timeout_s:g} s")
            return self._appended

    def __len__(self) -> int:
        with self._lock:
            return len(self._recent)

    def __repr__(self) -> str:
        return f"EndpointLog(path={str(self.path) if self.path else None!r}, records={len(self)})"
