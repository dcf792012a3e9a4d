"""The endpoint kit's JSONL log record: its format, how it is made, and the one check of a read record.

The kit (:mod:`dialpad_nb.endpoint`) writes one record per request; replay
(``read_calls``), health (``read_endpoint_log``) and the log table (``read_log``) read
them through :func:`check_record`, so a record means the same thing to all three.

Record (version :data:`ENDPOINT_LOG_VERSION`)::

    {"v": 1,
     "ts": <ms since epoch when the request was received, from the endpoint's clock>,
     "call_id": <int | null>,
     "payload": <the routing request object | null>,
     "signed": <bool: the request carried a JWT>,
     "decision": {"target_id": int, "target_type": str} | null,   # what was answered
     "rule": <str | null: the rule that matched, when decide reports one>,
     "fallback": <bool: the answer is the endpoint's fallback>,
     "status": <HTTP status answered>,
     "latency_ms": <float: time from receipt to answer>,
     "outcome": "ok" | "fallback" | "unauthorized" | "bad_request" | "error",
     "error": <str | null: why, when not ok>}

The secret and the raw token are never written.

**Events.** Besides one record per request, an endpoint serving a reloadable rule source (a
routing matrix) writes *event* records, told apart by their ``event`` field (a request record
has none)::

    {"v": 1, "event": "reload", "ts": <ms>, "ok": <bool: the new rules are serving>,
     "trigger": "start" | "signal" | "watch" | "api", "name": <rules name>,
     "sha256": <of the matrix (and CRM) bytes loaded, or null when refused>,
     "rules": <number of rules, default included, or null>,
     "serving_sha256": <what serves after this event>, "error": <why refused, or null>,
     "pid": <the worker process>}

Readers skip events (they are not requests) and count them (``ReadResult.skipped``), so
charts can mark them; they are never rejects.

**Files.** A log rotated by size (:class:`~dialpad_nb.endpoint.EndpointLog` ``max_bytes``)
is the active file plus rotated generations beside it, ``<stem>.<UTC stamp><suffix>`` (gzip:
``+ ".gz"``); :func:`log_files` lists them oldest first, and every reader given the active
file's path reads them all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ValidationError

__all__ = [
    "ENDPOINT_LOG_VERSION",
    "EVENT_KINDS",
    "FALLBACK_REASONS",
    "LOG_FIELDS",
    "LOG_OUTCOMES",
    "RELOAD_FIELDS",
    "RELOAD_TRIGGERS",
    "BadLogRecord",
    "LogEvent",
    "LogRecord",
    "busy_error",
    "check_record",
    "fallback_reason",
    "log_files",
    "logged_error",
    "make_record",
    "make_reload_record",
    "open_generation",
    "rotated_name",
    "timeout_error",
]

ENDPOINT_LOG_VERSION = 1
"""Version of the endpoint kit's JSONL log record."""

LOG_FIELDS: tuple[str, ...] = (
    "v",
    "ts",
    "call_id",
    "payload",
    "signed",
    "decision",
    "rule",
    "fallback",
    "status",
    "latency_ms",
    "outcome",
    "error",
)
LOG_OUTCOMES: tuple[str, ...] = ("ok", "fallback", "unauthorized", "bad_request", "error")

EVENT_KINDS: tuple[str, ...] = ("reload",)
"""The ``event`` values of event records (records that are not requests)."""
RELOAD_TRIGGERS: tuple[str, ...] = ("start", "signal", "watch", "api")
"""What made an endpoint (re)load its rules: its start, SIGHUP, ``--watch``, a Python call."""
RELOAD_FIELDS: tuple[str, ...] = (
    "v",
    "event",
    "ts",
    "ok",
    "trigger",
    "name",
    "sha256",
    "rules",
    "serving_sha256",
    "error",
    "pid",
)

FALLBACK_REASONS: tuple[str, ...] = ("no_match", "timeout", "busy", "rule_error")
"""Why the endpoint answered its fallback (see :func:`fallback_reason`)."""

_TIMEOUT_PREFIX = "decide did not answer within the "
_BUSY_PREFIX = "all rule workers are busy"


def timeout_error(budget_s: float) -> str:
    """The logged ``error`` of a request whose rule did not answer within the budget."""
    return f"{_TIMEOUT_PREFIX}{budget_s:g} s budget"


def busy_error(workers: int) -> str:
    """The logged ``error`` of a request refused because every rule thread was busy."""
    return f"{_BUSY_PREFIX} ({workers} slow rules): fallback answered at once"


def fallback_reason(outcome: Any, fallback: Any, error: Any) -> str | None:
    """Why a logged request got the fallback (one of :data:`FALLBACK_REASONS`), or None.

    ``no_match``: the rule had no answer; ``timeout``: it did not answer within the budget;
    ``busy``: every rule thread was busy; ``rule_error``: it raised or answered something that
    is not a target. The endpoint's metrics label fallbacks with this same function, so the
    counts in ``/metrics`` and in the log agree."""
    if fallback is not True:
        return None
    if outcome == "error":
        return "rule_error"
    if outcome != "fallback":
        return None
    if error is None:
        return "no_match"
    text = str(error)
    if text.startswith(_TIMEOUT_PREFIX):
        return "timeout"
    if text.startswith(_BUSY_PREFIX):
        return "busy"
    return "rule_error"


def make_record(
    *,
    ts: int,
    call_id: int | None,
    payload: Mapping[str, Any] | None,
    signed: bool,
    decision: Mapping[str, Any] | None,
    rule: str | None,
    fallback: bool,
    status: int,
    latency_ms: float,
    outcome: str,
    error: str | None,
) -> dict[str, Any]:
    """One log record with exactly :data:`LOG_FIELDS`, in order."""
    if outcome not in LOG_OUTCOMES:
        raise ValidationError(f"{outcome!r} is not one of {', '.join(LOG_OUTCOMES)}", field="outcome")
    return {
        "v": ENDPOINT_LOG_VERSION,
        "ts": int(ts),
        "call_id": call_id,
        "payload": dict(payload) if payload is not None else None,
        "signed": bool(signed),
        "decision": dict(decision) if decision is not None else None,
        "rule": rule,
        "fallback": bool(fallback),
        "status": int(status),
        "latency_ms": round(float(latency_ms), 3),
        "outcome": outcome,
        "error": error,
    }


def make_reload_record(
    *,
    ts: int,
    ok: bool,
    trigger: str,
    name: str | None,
    sha256: str | None,
    rules: int | None,
    serving_sha256: str | None,
    error: str | None,
    pid: int | None = None,
) -> dict[str, Any]:
    """One ``reload`` event record with exactly :data:`RELOAD_FIELDS`, in order."""
    if trigger not in RELOAD_TRIGGERS:
        raise ValidationError(f"{trigger!r} is not one of {', '.join(RELOAD_TRIGGERS)}", field="trigger")
    return {
        "v": ENDPOINT_LOG_VERSION,
        "event": "reload",
        "ts": int(ts),
        "ok": bool(ok),
        "trigger": trigger,
        "name": name,
        "sha256": sha256,
        "rules": rules,
        "serving_sha256": serving_sha256,
        "error": error,
        "pid": os.getpid() if pid is None else int(pid),
    }


class BadLogRecord(ValueError):
    """A decoded line that is not a usable log record; ``kind`` groups it in the rejects."""

    def __init__(self, reason: str, *, kind: str = "bad record") -> None:
        self.kind = kind
        super().__init__(reason)


@dataclass(frozen=True)
class LogRecord:
    """A checked log record. ``payload`` is as written (None when the endpoint refused the
    request: ``outcome``/``status``/``error`` say why); ``raw`` is the whole record."""

    raw: Mapping[str, Any]
    payload: Any
    decision: tuple[int, str] | None
    rule: str | None
    signed: bool

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)


@dataclass(frozen=True)
class LogEvent:
    """An event record (not a request): ``event`` is one of :data:`EVENT_KINDS`; ``raw`` the record."""

    raw: Mapping[str, Any]
    event: str

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)


def check_record(obj: Any, *, need_payload: bool = False) -> LogRecord | LogEvent:
    """The one check of a decoded log line; :class:`BadLogRecord` naming the field otherwise.

    Checks, in this order, what every reader relies on: a JSON object of this version;
    an ``event`` field (a :class:`LogEvent`, when it names one of :data:`EVENT_KINDS`); with ``need_payload`` (replay reads requests), a payload (a record without one is a
    request the endpoint refused: kind ``logged error``); a ``decision`` that is null or
    a target (positive ``target_id``, non-empty ``target_type``); a ``rule`` that is text
    or null. ``signed`` is true only when written ``true``. Readers check the other
    fields they use themselves."""
    if not isinstance(obj, Mapping):
        raise BadLogRecord(f"not a JSON object (got {type(obj).__name__})", kind="bad JSON")
    if obj.get("v") != ENDPOINT_LOG_VERSION:
        raise BadLogRecord(
            f"unsupported endpoint log version {obj.get('v')!r} (expected {ENDPOINT_LOG_VERSION})"
        )
    event = obj.get("event")
    if event is not None:
        if not isinstance(event, str) or event not in EVENT_KINDS:
            raise BadLogRecord(f"event {event!r} is not one of {', '.join(EVENT_KINDS)}")
        return LogEvent(obj, event)
    payload = obj.get("payload")
    if payload is None and need_payload:
        raise BadLogRecord(logged_error(obj), kind="logged error")
    decision = obj.get("decision")
    target = None
    if decision is not None:
        tid = decision.get("target_id") if isinstance(decision, Mapping) else None
        ttype = decision.get("target_type") if isinstance(decision, Mapping) else None
        if not (isinstance(tid, int) and not isinstance(tid, bool) and 0 < tid < 2**63) or not (
            isinstance(ttype, str) and ttype
        ):
            raise BadLogRecord(f"decision {decision!r} is not a target")
        target = (tid, ttype)
    rule = obj.get("rule")
    if rule is not None and not isinstance(rule, str):
        raise BadLogRecord(f"rule {rule!r} is not text")
    return LogRecord(obj, payload, target, rule, obj.get("signed") is True)


def logged_error(rec: Mapping[str, Any]) -> str:
    """Why a record without a payload has none, in words (``endpoint logged unauthorized (HTTP 401): ...``)."""
    outcome, status, error = rec.get("outcome"), rec.get("status"), rec.get("error")
    text = f"endpoint logged {outcome or 'an error'}"
    if status is not None:
        text += f" (HTTP {status})"
    return text + (f": {error}" if error else ": no payload")


# --------------------------------------------------------------------------- rotated files

_STAMP = r"\d{8}T\d{12}Z(?:-\d+)?"


def _split(path: Path) -> tuple[str, str]:
    return (path.stem, path.suffix) if path.suffix else (path.name, "")


def rotated_name(path: str | os.PathLike, stamp: str) -> Path:
    """Where the active log ``path`` goes when rotated at ``stamp`` (``YYYYmmddTHHMMSSffffffZ``):
    ``endpoint.jsonl`` -> ``endpoint.<stamp>.jsonl`` (``.gz`` added once compressed)."""
    p = Path(path)
    stem, suffix = _split(p)
    return p.with_name(f"{stem}.{stamp}{suffix}")


def log_files(path: str | os.PathLike) -> list[Path]:
    """Every file of the log whose active file is ``path``: its rotated generations oldest first
    (a generation both plain and gzipped, while being compressed, is read plain), then ``path``
    itself if it exists. Only ``path`` when nothing was rotated."""
    p = Path(path)
    stem, suffix = _split(p)
    pattern = re.compile(rf"{re.escape(stem)}\.({_STAMP}){re.escape(suffix)}(\.gz)?")
    found: dict[str, Path] = {}
    try:
        names = os.listdir(p.parent if str(p.parent) else ".")
    except OSError:
        names = []
    for name in names:
        m = pattern.fullmatch(name)
        if m is None:
            continue
        stamp = m.group(1)
        if stamp not in found or not m.group(2):  # plain wins over its .gz (compression under way)
            found[stamp] = p.with_name(name)
    generations = [found[k] for k in sorted(found, key=_stamp_key)]
    if p.exists() or not generations:
        generations.append(p)
    return generations


def _stamp_key(stamp: str) -> tuple[str, int]:
    base, _, seq = stamp.partition("-")
    return base, int(seq or 0)


def open_generation(path: str | os.PathLike) -> Any:
    """``open(path, "rb")``, or its ``.gz`` twin when a rotated generation was compressed between
    being listed and being opened (the ``.gz`` is complete before the plain file goes)."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        gz = Path(path).with_name(Path(path).name + ".gz")
        if not gz.exists():
            raise
        return open(gz, "rb")
