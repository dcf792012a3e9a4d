"""The endpoint kit's JSONL log record: its format, how it is made, and the one check of a read record.

The kit (:mod:`dialpad_nb.endpoint`) writes one record per request; replay
(``read_calls``), health (``read_endpoint_log``) and the log table (``read_log``) read
them through :func:`check_record`, so a record means the same thing to all three.

Record (version :data:`ENDPOINT_LOG_VERSION`)::

    {"v": 2,
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
     "error": <str | null: why, when not ok>,
     # version 2: a candidate rule set tried on live calls (shadows, canary)
     "side": <str | null: the canary arm the caller is on: "control" or a candidate's name;
              null when no canary runs or the request was refused>,
     "answered_by": <str | null: whose answer was sent: "control" or the candidate's name
                     (a failing candidate's answer is replaced by the control's)>,
     "control": <result | null: the control's own result when another rule answered>,
     "shadows": [<result with "name">, ...]}   # every shadow evaluated on this request

    result = {"name": <shadow name; shadows only>,
              "decision": {"target_id", "target_type"} | null,   # its target (its fallback on no_match)
              "rule": <str | null>, "outcome": one of SHADOW_OUTCOMES,
              "error": <str | null>, "duration_ms": <float | null: from its start to its answer>}

A request with shadows is appended once its shadows have finished (each within its budget), so
the lines are in the order requests *completed*; ``ts`` says when each arrived. The secret and
the raw token are never written. Version 1 records (no ``side``,
``answered_by``, ``control``, ``shadows``) are still read by every reader: they are requests
without an experiment.

**Events.** Besides one record per request, an endpoint serving a reloadable rule source (a
routing matrix) writes *event* records, told apart by their ``event`` field (a request record
has none)::

    {"v": 2, "event": "reload", "ts": <ms>, "ok": <bool: the new rules are serving>,
     "trigger": "start" | "signal" | "watch" | "api", "name": <rules name>,
     "sha256": <of the matrix (and CRM) bytes loaded, or null when refused>,
     "rules": <number of rules, default included, or null>,
     "serving_sha256": <what serves after this event>, "error": <why refused, or null>,
     "pid": <the worker process>,
     "shadows": [{"shadow": <its name>, "name", "sha256", "rules"}, ...] | null}  # v2: loaded shadows

    {"v": 2, "event": "canary", "ts": <ms>, "action": "start" | "share" | "stop" | "resume",
     "candidate": <its name>, "share": <the share of callers it answers now>,
     "trigger": "start" | "auto" | "admin" | "api", "reason": <why, in words, or null>,
     "candidate_calls", "candidate_failures", "control_calls", "control_failures": <the counts
     the automatic stop compared, or null>, "pid": <the worker process>}

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ValidationError

__all__ = [
    "CANARY_ACTIONS",
    "CANARY_FIELDS",
    "CANARY_TRIGGERS",
    "ENDPOINT_LOG_VERSION",
    "EVENT_KINDS",
    "FAILED_OUTCOMES",
    "FALLBACK_REASONS",
    "LOG_FIELDS",
    "LOG_OUTCOMES",
    "RELOAD_FIELDS",
    "RELOAD_TRIGGERS",
    "RESULT_FIELDS",
    "SHADOW_OUTCOMES",
    "SHADOW_VERDICTS",
    "READ_VERSIONS",
    "ArmResult",
    "BadLogRecord",
    "Experiment",
    "LogEvent",
    "LogRecord",
    "busy_error",
    "check_record",
    "experiment_of",
    "fallback_reason",
    "log_files",
    "logged_error",
    "make_canary_record",
    "make_record",
    "make_reload_record",
    "make_result",
    "open_generation",
    "rotated_name",
    "shadow_verdict",
    "timeout_error",
]

ENDPOINT_LOG_VERSION = 2
"""Version of the endpoint kit's JSONL log record (2: shadows and canary; 1 is still read)."""
READ_VERSIONS: tuple[int, ...] = (1, 2)
"""The record versions every reader accepts."""

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
    "side",
    "answered_by",
    "control",
    "shadows",
)
LOG_OUTCOMES: tuple[str, ...] = ("ok", "fallback", "unauthorized", "bad_request", "error")

EVENT_KINDS: tuple[str, ...] = ("reload", "canary")
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
    "shadows",
)

SHADOW_OUTCOMES: tuple[str, ...] = ("ok", "no_match", "timeout", "error", "busy")
"""How one rule's evaluation ended: an answer; no rule matched (its fallback stands for it);
past its time budget; it raised or answered something that is not a valid target; not run
because all its threads were busy."""
FAILED_OUTCOMES: frozenset[str] = frozenset({"timeout", "error"})
"""Outcomes that count as a rule's failure (raised, invalid target, over budget)."""
RESULT_FIELDS: tuple[str, ...] = ("decision", "rule", "outcome", "error", "duration_ms")
"""Fields of one rule's result in a record (``control``, each of ``shadows`` with ``name`` first)."""
SHADOW_VERDICTS: tuple[str, ...] = ("match", "mismatch", "timeout", "error", "busy", "control_failed")
"""How a shadow's result compares with the control's (:func:`shadow_verdict`)."""

CANARY_ACTIONS: tuple[str, ...] = ("start", "share", "stop", "resume")
"""What a ``canary`` event did: a candidate started answering a share of callers, its share
changed, it was stopped (everything answered by the control), or resumed after a stop."""
CANARY_TRIGGERS: tuple[str, ...] = ("start", "auto", "admin", "api")
"""Who changed the canary: the endpoint's start, the automatic stop, the admin route, a Python call."""
CANARY_FIELDS: tuple[str, ...] = (
    "v",
    "event",
    "ts",
    "action",
    "candidate",
    "share",
    "trigger",
    "reason",
    "candidate_calls",
    "candidate_failures",
    "control_calls",
    "control_failures",
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
    side: str | None = None,
    answered_by: str | None = None,
    control: Mapping[str, Any] | None = None,
    shadows: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """One log record with exactly :data:`LOG_FIELDS`, in order (``control`` and each of
    ``shadows`` made by :func:`make_result`)."""
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
        "side": side,
        "answered_by": answered_by,
        "control": dict(control) if control is not None else None,
        "shadows": [dict(r) for r in shadows],
    }


def make_result(
    *,
    decision: Mapping[str, Any] | None,
    rule: str | None,
    outcome: str,
    error: str | None,
    duration_ms: float | None,
    name: str | None = None,
) -> dict[str, Any]:
    """One rule's result (:data:`RESULT_FIELDS`; ``name`` first for a shadow)."""
    if outcome not in SHADOW_OUTCOMES:
        raise ValidationError(f"{outcome!r} is not one of {', '.join(SHADOW_OUTCOMES)}", field="outcome")
    out: dict[str, Any] = {} if name is None else {"name": name}
    out.update(
        decision=dict(decision) if decision is not None else None,
        rule=rule,
        outcome=outcome,
        error=error,
        duration_ms=None if duration_ms is None else round(float(duration_ms), 3),
    )
    return out


def shadow_verdict(control: ArmResult, shadow: ArmResult) -> str:
    """How a shadow's result compares with the control's (one of :data:`SHADOW_VERDICTS`).

    ``match``/``mismatch``: both gave a target (a rule's or, on no match, its fallback) and
    they are the same / differ; ``timeout``, ``error``, ``busy``: the shadow failed or did not
    run; ``control_failed``: the shadow answered but the control did not (nothing to compare).
    The endpoint's metrics and :func:`dialpad_nb.health.shadow_report` both use this."""
    if shadow.outcome in ("timeout", "error", "busy"):
        return shadow.outcome
    if control.outcome not in ("ok", "no_match") or control.decision is None or shadow.decision is None:
        return "control_failed"
    return "match" if control.decision == shadow.decision else "mismatch"


def make_canary_record(
    *,
    ts: int,
    action: str,
    candidate: str,
    share: float,
    trigger: str,
    reason: str | None = None,
    counts: tuple[int, int, int, int] | None = None,
    pid: int | None = None,
) -> dict[str, Any]:
    """One ``canary`` event record with exactly :data:`CANARY_FIELDS`, in order. ``counts`` is
    ``(candidate calls, candidate failures, control calls, control failures)``."""
    if action not in CANARY_ACTIONS:
        raise ValidationError(f"{action!r} is not one of {', '.join(CANARY_ACTIONS)}", field="action")
    if trigger not in CANARY_TRIGGERS:
        raise ValidationError(f"{trigger!r} is not one of {', '.join(CANARY_TRIGGERS)}", field="trigger")
    n = counts or (None, None, None, None)
    return {
        "v": ENDPOINT_LOG_VERSION,
        "event": "canary",
        "ts": int(ts),
        "action": action,
        "candidate": candidate,
        "share": float(share),
        "trigger": trigger,
        "reason": reason,
        "candidate_calls": n[0],
        "candidate_failures": n[1],
        "control_calls": n[2],
        "control_failures": n[3],
        "pid": os.getpid() if pid is None else int(pid),
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
    shadows: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """One ``reload`` event record with exactly :data:`RELOAD_FIELDS`, in order (``shadows``:
    what each shadow loaded, when it is a rule source too)."""
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
        "shadows": [dict(x) for x in shadows] if shadows is not None else None,
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
    version = obj.get("v")
    if isinstance(version, bool) or version not in READ_VERSIONS:
        raise BadLogRecord(
            f"unsupported endpoint log version {version!r} (expected one of {', '.join(map(str, READ_VERSIONS))})"
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


@dataclass(frozen=True)
class ArmResult:
    """One rule's checked result in a record (the control's or a shadow's)."""

    name: str
    decision: tuple[int, str] | None
    rule: str | None
    outcome: str
    error: str | None
    duration_ms: float | None

    @property
    def failed(self) -> bool:
        """Raised, answered an invalid target or went over its budget (:data:`FAILED_OUTCOMES`)."""
        return self.outcome in FAILED_OUTCOMES


@dataclass(frozen=True)
class Experiment:
    """The experiment part of a checked request record: the canary side, who answered, the
    control's own result and every shadow's (empty for a version-1 record)."""

    side: str | None
    answered_by: str | None
    control: ArmResult
    shadows: tuple[ArmResult, ...]


def experiment_of(rec: LogRecord) -> Experiment:
    """The checked :class:`Experiment` of a request record; :class:`BadLogRecord` naming the
    field (``shadows[1].decision``...) when part of it is not what :func:`make_record` writes.

    The control's own result is ``control`` when another rule answered, else the record's own
    answer (its decision, rule and outcome: ``fallback`` with no error means no match)."""
    raw = rec.raw
    side = _opt_str(raw.get("side"), "side")
    answered_by = _opt_str(raw.get("answered_by"), "answered_by")
    control_raw = raw.get("control")
    if control_raw is not None:
        control = _result(control_raw, "control", "control")
    else:
        control = _answered_result(rec)
    shadows_raw = raw.get("shadows", [])
    if shadows_raw is None:
        shadows_raw = []
    if not isinstance(shadows_raw, list):
        raise BadLogRecord(f"shadows {shadows_raw!r} is not a list")
    shadows = []
    for i, item in enumerate(shadows_raw):
        where = f"shadows[{i}]"
        if not isinstance(item, Mapping):
            raise BadLogRecord(f"{where} {item!r} is not an object")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise BadLogRecord(f"{where}.name {name!r} is not a name")
        shadows.append(_result(item, name, where))
    return Experiment(side, answered_by, control, tuple(shadows))


def _opt_str(value: Any, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise BadLogRecord(f"{where} {value!r} is not text")
    return value


def _target(value: Any, where: str) -> tuple[int, str] | None:
    if value is None:
        return None
    tid = value.get("target_id") if isinstance(value, Mapping) else None
    ttype = value.get("target_type") if isinstance(value, Mapping) else None
    if not (isinstance(tid, int) and not isinstance(tid, bool) and 0 < tid < 2**63) or not (
        isinstance(ttype, str) and ttype
    ):
        raise BadLogRecord(f"{where} {value!r} is not a target")
    return (tid, ttype)


def _result(obj: Mapping[str, Any], name: str, where: str) -> ArmResult:
    if not isinstance(obj, Mapping):
        raise BadLogRecord(f"{where} {obj!r} is not an object")
    outcome = obj.get("outcome")
    if outcome not in SHADOW_OUTCOMES:
        raise BadLogRecord(f"{where}.outcome {outcome!r} is not one of {', '.join(SHADOW_OUTCOMES)}")
    duration = obj.get("duration_ms")
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, (int, float)) or not duration >= 0
    ):
        raise BadLogRecord(f"{where}.duration_ms {duration!r} is not a duration")
    return ArmResult(
        name=name,
        decision=_target(obj.get("decision"), f"{where}.decision"),
        rule=_opt_str(obj.get("rule"), f"{where}.rule"),
        outcome=str(outcome),
        error=_opt_str(obj.get("error"), f"{where}.error"),
        duration_ms=None if duration is None else float(duration),
    )


def _answered_result(rec: LogRecord) -> ArmResult:
    """The control's result read from the record's own answer (the control answered)."""
    outcome, fallback, error = rec.get("outcome"), rec.get("fallback"), rec.get("error")
    reason = fallback_reason(outcome, fallback, error)
    arm = {None: "ok", "no_match": "no_match", "timeout": "timeout", "busy": "busy", "rule_error": "error"}
    result = arm.get(reason, "ok")
    if reason is None and outcome != "ok":
        result = "error"
    latency = rec.get("latency_ms")
    return ArmResult(
        name="control",
        decision=rec.decision,
        rule=rec.rule,
        outcome=result,
        error=error if isinstance(error, str) else None,
        duration_ms=float(latency)
        if isinstance(latency, (int, float)) and not isinstance(latency, bool)
        else None,
    )


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
