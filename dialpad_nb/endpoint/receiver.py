"""A call-event receiver (ASGI app): what a Dialpad webhook's ``hook_url`` points at.

::

    app = event_receiver(secret=WEBHOOK_SECRET, log_path="events.jsonl")
    served = serve_receiver(app)            # background thread on a free loopback port
    client.create_webhook(served.url, secret=WEBHOOK_SECRET)
    app.state.receiver.wait_for(4)          # block until 4 new events were logged
    served.stop()

What it does with each POST (any path), answering at once (the work is one appended line):

* finds the event: a compact JWT as the body (any content type), or in a JSON wrapper
  ``{"token": ...}`` / ``{"jwt": ...}``; otherwise a JSON object;
* with a ``secret``: verifies the JWT (HS256 only, :func:`dialpad_nb.core.signing.verify`);
  an unsigned event, a wrong key, ``alg: none``, a malformed or expired token → **401**, a
  warning on the ``dialpad_nb.endpoint.receiver`` logger and an ``unauthorized`` record in the
  log (never the token or the secret);
* an event that is not a call event (no ``call_id`` or ``state``) → 400 and a ``bad_request`` record;
* a repeat of a ``(call_id, state)`` already logged (delivery is at least once) → 200 with
  ``{"duplicate": true}``, counted, not logged again; with ``log_path`` the keys already in the
  file are remembered across restarts;
* otherwise 200 and one ``ok`` record (:mod:`dialpad_nb.core.event_log`), which ``read_calls``
  and :func:`dialpad_nb.health.from_dialpad_calls` read.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..core.clock import Clock, SystemClock
from ..core.errors import TokenError, ValidationError
from ..core.event_log import make_event_record
from ..core.models import parse_id
from ..core.serving import ServedApp, run_foreground, serve_app
from ..core.signing import verify

__all__ = [
    "EventReceiver",
    "ReceiverLog",
    "event_receiver",
    "serve_receiver",
    "serve_receiver_foreground",
]

log = logging.getLogger("dialpad_nb.endpoint.receiver")

MAX_EVENT_BYTES = 1024 * 1024
"""Largest event body accepted (413 beyond)."""


class ReceiverLog:
    """The receiver's append-only JSONL log, safe from many threads; the last ``keep`` records
    also in memory. Remembers every ``(call_id, state)`` logged (read back from an existing file)."""

    def __init__(self, path: str | Path | None = None, *, keep: int = 10_000) -> None:
        self.path = Path(path) if path is not None else None
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._keys: set[tuple[Any, Any]] = set()
        self._accepted = 0
        self._cond = threading.Condition()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists():
                self._load()

    def _load(self) -> None:
        assert self.path is not None
        with self.path.open("rb") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and rec.get("outcome") == "ok":
                    self._keys.add((rec.get("call_id"), rec.get("state")))

    def append(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"
        with self._cond:
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(line)
            self._recent.append(dict(record))
            if record.get("outcome") == "ok":
                self._keys.add((record.get("call_id"), record.get("state")))
                self._accepted += 1
            self._cond.notify_all()

    def seen(self, call_id: Any, state: Any) -> bool:
        with self._cond:
            return (call_id, state) in self._keys

    @property
    def accepted(self) -> int:
        """Events logged since this log object was made."""
        with self._cond:
            return self._accepted

    def records(self) -> list[dict[str, Any]]:
        """The most recent records held in memory (oldest first), refusals included."""
        with self._cond:
            return list(self._recent)

    def events(self) -> list[dict[str, Any]]:
        """The call events logged (oldest first, from memory)."""
        return [r["event"] for r in self.records() if r.get("outcome") == "ok"]

    def table(self, timezone: str = "UTC") -> Any:
        """The logged events as a DataFrame, one row per event, in the order they happened
        (``event_timestamp``, then call): ``call_id``, ``state``, ``time`` (the event's, in
        ``timezone``), ``router``, ``target`` (by name), ``signed``."""
        import pandas as pd

        rows = []
        for rec in self.records():
            event = rec.get("event")
            if rec.get("outcome") != "ok" or not isinstance(event, Mapping):
                continue
            entry, target = event.get("entry_point_target") or {}, event.get("target") or {}
            rows.append(
                {
                    "call_id": rec.get("call_id"),
                    "state": rec.get("state"),
                    "event_timestamp": rec.get("event_timestamp"),
                    "router": entry.get("name") if isinstance(entry, Mapping) else None,
                    "target": target.get("name") if isinstance(target, Mapping) else None,
                    "signed": rec.get("signed"),
                }
            )
        df = pd.DataFrame(rows, columns=["call_id", "state", "event_timestamp", "router", "target", "signed"])
        df = df.sort_values(["event_timestamp", "call_id"], kind="stable", ignore_index=True)
        stamps = pd.to_datetime(df["event_timestamp"].astype("Int64"), unit="ms", utc=True)
        df.insert(2, "time", stamps.dt.tz_convert(timezone))
        return df.drop(columns="event_timestamp").astype({"call_id": "Int64", "signed": "boolean"})

    def wait_for(self, count: int, timeout_s: float = 10.0, *, strict: bool = True) -> int:
        """Wait until at least ``count`` events were logged since this log was made; the number
        logged. If they do not arrive in time: ``TimeoutError`` naming how many came, or, with
        ``strict=False``, just the number that came (waiting for real calls on an account)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._accepted >= count, timeout_s) and strict:
                raise TimeoutError(f"{self._accepted} of {count} events arrived within {timeout_s:g} s")
            return self._accepted

    def __len__(self) -> int:
        with self._cond:
            return len(self._recent)

    def __repr__(self) -> str:
        return f"ReceiverLog(path={str(self.path) if self.path else None!r}, records={len(self)})"


class EventReceiver:
    """The configured kit behind one receiver app (``app.state.receiver``)."""

    def __init__(self, *, secret: str | None, log: ReceiverLog, clock: Clock) -> None:
        self._secret = secret or None
        self.log = log
        self.clock = clock
        self.duplicates = 0
        """Repeats of an already logged (call_id, state), answered 200 and not logged."""
        self.refused = 0
        """Requests answered 4xx (bad or missing signature, not an event)."""
        self._lock = threading.Lock()

    @property
    def signed(self) -> bool:
        return self._secret is not None

    def __repr__(self) -> str:
        return (
            f"EventReceiver(signed={self.signed}, events={self.log.accepted}, duplicates={self.duplicates}, "
            f"refused={self.refused}, log={self.log!r})"
        )

    # ------------------------------------------------------------------ one request

    def _refuse(
        self, request: Request, status: int, outcome: str, message: str, signed: bool
    ) -> JSONResponse:
        with self._lock:
            self.refused += 1
        peer = request.client.host if request.client else "unknown"
        log.warning("event receiver refused a request from %s (HTTP %d): %s", peer, status, message)
        self.log.append(
            make_event_record(
                ts=self.clock.now_ms(), event=None, signed=signed, outcome=outcome, error=message
            )
        )
        return JSONResponse({"error": {"code": status, "message": message}}, status_code=status)

    async def handle(self, request: Request) -> JSONResponse:
        body = b""
        async for chunk in request.stream():  # never more than the limit in memory
            body += chunk
            if len(body) > MAX_EVENT_BYTES:
                return self._refuse(
                    request, 413, "bad_request", f"event larger than {MAX_EVENT_BYTES} bytes", False
                )
        try:
            token, data = _unwrap(body)
        except ValidationError as exc:
            status = 401 if self._secret else 400
            return self._refuse(
                request, status, "unauthorized" if self._secret else "bad_request", str(exc), False
            )
        signed = token is not None
        if self._secret:
            if token is None:
                return self._refuse(
                    request, 401, "unauthorized", "unsigned event: this receiver requires an HS256 JWT", False
                )
            try:
                data = verify(token, self._secret)
            except TokenError as exc:
                return self._refuse(request, 401, "unauthorized", f"{exc.reason}: {exc}", True)
        elif token is not None:
            return self._refuse(
                request,
                400,
                "bad_request",
                "signed event (JWT) but this receiver has no secret to verify it",
                True,
            )
        if not isinstance(data, Mapping):
            return self._refuse(request, 400, "bad_request", "an event must be a JSON object", signed)
        state = data.get("state")
        try:
            call_id = parse_id(data.get("call_id"), field="call_id")
        except ValidationError as exc:
            return self._refuse(request, 400, "bad_request", f"not a call event: {exc}", signed)
        if not isinstance(state, str) or not state:
            return self._refuse(request, 400, "bad_request", "not a call event: state is required", signed)
        if self.log.seen(call_id, state):
            with self._lock:
                self.duplicates += 1
            return JSONResponse({"ok": True, "duplicate": True})
        self.log.append(
            make_event_record(
                ts=self.clock.now_ms(),
                event=dict(data),
                signed=signed,
                outcome="ok",
                call_id=call_id,
                state=state,
            )
        )
        return JSONResponse({"ok": True})


def _unwrap(body: bytes) -> tuple[str | None, Any]:
    """``(token, None)`` for a signed event, ``(None, data)`` for a plain JSON one."""
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValidationError("body is not UTF-8 text", field="body") from None
    if not text:
        raise ValidationError("empty body: expected a call event (JSON or JWT)", field="body")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        if text.count(".") == 2:
            return text, None
        raise ValidationError("body is neither JSON nor a JWT", field="body") from None
    if isinstance(data, str):
        return data, None
    if isinstance(data, Mapping):
        for key in ("token", "jwt"):
            if isinstance(data.get(key), str):
                return data[key], None
    return None, data


def event_receiver(
    *,
    secret: str | None = None,
    log_path: str | Path | None = None,
    clock: Clock | None = None,
    keep: int = 10_000,
) -> Starlette:
    """An ASGI app receiving Dialpad call events (see the module docstring).

    ``secret``: the webhook's secret (events must then be HS256 JWTs signed with it);
    ``log_path``: the JSONL log to append to (none: memory only, the last ``keep`` records);
    ``clock``: stamps ``ts`` (default: the system clock). The kit is ``app.state.receiver``."""
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise ValidationError("must be non-empty text", field="secret")
    kit = EventReceiver(secret=secret, log=ReceiverLog(log_path, keep=keep), clock=clock or SystemClock())
    app = Starlette(routes=[Route("/{path:path}", kit.handle, methods=["POST"])])
    app.state.receiver = kit
    return app


def serve_receiver(app: Starlette, host: str = "127.0.0.1", port: int = 0) -> ServedApp:
    """Serve ``app`` with uvicorn in a background thread; ``.url``, ``.stop()``."""
    return serve_app(app, host=host, port=port, name="event-receiver")


def serve_receiver_foreground(
    app: Starlette, *, host: str = "127.0.0.1", port: int = 8001, out: TextIO | None = None
) -> int:
    """Serve ``app`` in this thread until Ctrl-C/SIGTERM (the CLI); the exit status."""
    kit: EventReceiver = app.state.receiver

    def banner(url: str) -> list[str]:
        return [
            f"Call-event receiver listening on {url}/",
            f"Signed events: {'required (HS256)' if kit.signed else 'no (plain JSON)'}",
            f"Log: {kit.log.path or '(memory only)'}",
        ]

    return run_foreground(app, host=host, port=port, label="receiver", banner=banner, out=out)
