"""Call attempts — one DataFrame shape, read from three sources.

An *attempt* is what happened to one inbound call on a router: when, how long
the routing endpoint took, and the outcome as Dialpad sees it (one of
``policy.OUTCOMES``). The health analytics, charts and widget all read this
one shape (``ATTEMPT_COLUMNS``):

=============  =========================  =============================================
column         dtype                      meaning
=============  =========================  =============================================
time           datetime64[ms, UTC]        when the call arrived
call_id        Int64                      Dialpad's call id (may be missing)
router_id      Int64                      the router (missing for single-router sources)
latency_ms     float64                    endpoint time; NaN when no request was made
outcome        category (OUTCOMES)        ``ok``, ``timeout``, ... ``skipped_disabled``
is_error       bool                       outcome counts toward auto-disable
http_status    Int64                      the status that came back, if any
target_id      Int64                      where the call went
target_type    string
is_default     boolean                    the call went to the router's default target
error_count    Int64                      errors in the window after it, *as recorded*
source         string                     ``sandbox``, ``endpoint_log``, ``csv``, ``probe``...
=============  =========================  =============================================

Readers return a :class:`~dialpad_nb.core.frames.ReadResult` (``attempts, rejects = ...``);
``rejects`` is the package's one rejects frame: every record that could not be used,
with its source, 1-based line (or row), raw text and the reason -- nothing is dropped
silently.

Endpoint-kit log mapping (how Dialpad would have seen each logged request):

* ``latency_ms`` over the policy deadline → ``timeout`` (Dialpad would have
  given up before the answer arrived, whatever its status);
* else ``status`` not 2xx → ``http_status``;
* else a ``decision`` → ``ok`` with that target (the kit's own ``fallback``
  answer is still a valid answer to Dialpad);
* else (2xx without a decision) → ``invalid_response``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from ..calls.endpoint_log import LogSource, iter_log, read_log
from ..core.endpoint_log import BadLogRecord, LogEvent, LogRecord, log_files
from ..core.errors import ValidationError
from ..core.frames import REJECT_COLUMNS, ReadResult, rejects_frame
from ..core.models import is_missing
from ..core.policy import DIALPAD, ERROR_OUTCOMES, OUTCOMES, Policy, reply_outcome

__all__ = [
    "ATTEMPT_COLUMNS",
    "ATTEMPT_DTYPES",
    "OUTCOME_DTYPE",
    "REJECT_COLUMNS",
    "SIDE_BY_SIDE_COLUMNS",
    "attempts_from_records",
    "empty_attempts",
    "from_sandbox",
    "read_attempts_csv",
    "read_endpoint_log",
    "side_by_side",
    "write_attempts_csv",
]

OUTCOME_DTYPE = pd.CategoricalDtype(list(OUTCOMES))

ATTEMPT_DTYPES: dict[str, Any] = {
    "time": "datetime64[ms, UTC]",
    "call_id": "Int64",
    "router_id": "Int64",
    "latency_ms": "float64",
    "outcome": OUTCOME_DTYPE,
    "is_error": "bool",
    "http_status": "Int64",
    "target_id": "Int64",
    "target_type": "string",
    "is_default": "boolean",
    "error_count": "Int64",
    "source": "string",
}
ATTEMPT_COLUMNS: tuple[str, ...] = tuple(ATTEMPT_DTYPES)
"""The columns of every attempts DataFrame, in order."""


def empty_attempts() -> pd.DataFrame:
    """An attempts DataFrame with no rows (the right columns and dtypes)."""
    return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in ATTEMPT_DTYPES.items()})


class _Reject(ValueError):
    """A record that cannot become an attempt; the message is the reason (naming the field)."""


def _opt_int(value: Any, name: str) -> int | None:
    if is_missing(value):
        return None
    if isinstance(value, bool):
        raise _Reject(f"{name}: {value!r} is not an integer")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return None
        if text.lstrip("-").isdigit():
            return int(text)
        try:
            as_float = float(text)
        except ValueError:
            pass
        else:
            if as_float.is_integer():
                return int(as_float)
    raise _Reject(f"{name}: {value!r} is not an integer")


def _opt_float(value: Any, name: str) -> float:
    if is_missing(value) or (isinstance(value, str) and value.strip() == ""):
        return math.nan
    if isinstance(value, bool):
        raise _Reject(f"{name}: {value!r} is not a number")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise _Reject(f"{name}: {value!r} is not a number") from None
    if math.isinf(out) or (not math.isnan(out) and out < 0):
        raise _Reject(f"{name}: {value!r} must be a finite number >= 0")
    return out


def _opt_bool(value: Any, name: str) -> bool | None:
    if is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes", "t", "y"):
            return True
        if text in ("false", "0", "no", "f", "n"):
            return False
        if text == "":
            return None
    raise _Reject(f"{name}: {value!r} is not a boolean")


def _outcome(value: Any) -> str:
    if value not in OUTCOMES:
        raise _Reject(f"outcome: {value!r} is not one of {', '.join(OUTCOMES)}")
    return str(value)


def _time_ms(value: Any) -> int:
    from ..core.clock import to_ms

    if is_missing(value):
        raise _Reject("time: missing")
    try:
        return to_ms(value, field="time")
    except ValidationError as exc:
        raise _Reject(str(exc)) from None


def attempts_from_records(records: Iterable[Mapping[str, Any]], *, source: str) -> pd.DataFrame:
    """Build an attempts DataFrame from already-validated dicts with the
    attempt columns (``time`` as int ms). Missing keys become missing values."""
    rows = list(records)
    cols: dict[str, Any] = {}
    for name, dtype in ATTEMPT_DTYPES.items():
        values = [r.get(name) for r in rows]
        if name == "time":
            cols[name] = pd.Series(np.array(values, dtype="int64"), dtype="int64").astype(
                "datetime64[ms, UTC]"
            )
        elif name == "latency_ms":
            cols[name] = pd.Series(np.array([math.nan if v is None else v for v in values], dtype="float64"))
        elif name == "is_error":
            cols[name] = pd.Series([r["outcome"] in ERROR_OUTCOMES for r in rows], dtype="bool")
        elif name == "source":
            cols[name] = pd.Series([source] * len(rows), dtype="string")
        else:
            cols[name] = pd.Series(values, dtype=object).astype(dtype)
    frame = pd.DataFrame(cols)
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- sandbox


def _sandbox_row(rec: Any) -> dict[str, Any]:
    if not isinstance(rec, Mapping):
        raise _Reject(f"expected a JSON object, got {type(rec).__name__}")
    outcome = _outcome(rec.get("outcome"))
    latency = _opt_float(rec.get("latency_ms"), "latency_ms")
    if outcome == "skipped_disabled" and not math.isnan(latency):
        raise _Reject("latency_ms: a skipped_disabled attempt made no request but has a latency")
    return {
        "time": _time_ms(rec.get("at")),
        "call_id": _opt_int(rec.get("call_id"), "call_id"),
        "router_id": _opt_int(rec.get("router_id"), "router_id"),
        "latency_ms": latency,
        "outcome": outcome,
        "http_status": _opt_int(rec.get("http_status"), "http_status"),
        "target_id": _opt_int(rec.get("target_id"), "target_id"),
        "target_type": rec.get("target_type") or None,
        "is_default": _opt_bool(rec.get("is_default"), "is_default"),
        "error_count": _opt_int(rec.get("error_count"), "error_count"),
    }


def from_sandbox(records: Iterable[Mapping[str, Any]] | pd.DataFrame) -> ReadResult:
    """Attempts from the sandbox's attempt records (``GET /sandbox/v1/attempts``
    items, or ``SandboxControl.attempts()``: a list of dicts or a DataFrame of them)."""
    items: Iterable[Any] = records
    if isinstance(records, pd.DataFrame):
        items = records.astype(object).where(records.notna(), None).to_dict("records")
    return _read(((i, r, "") for i, r in enumerate(items, start=1)), _sandbox_row, source="sandbox")


def _read(
    items: Iterable[tuple[int, Any, str]],
    convert: Callable[[Any], dict[str, Any]],
    *,
    source: str,
    files: tuple[str, ...] = (),
) -> ReadResult:
    """Convert ``(line, record, raw text)`` items; refusals go to the one rejects frame; events
    (not requests) are skipped and counted."""
    good: list[dict[str, Any]] = []
    bad: list[tuple[int, str, str, str]] = []
    skipped: dict[str, int] = {}
    for line, rec, raw in items:
        if isinstance(rec, LogEvent):
            skipped[rec.event] = skipped.get(rec.event, 0) + 1
            continue
        try:
            if isinstance(rec, BadLogRecord):
                raise rec
            good.append(convert(rec))
        except BadLogRecord as exc:
            bad.append((line, raw or _record_text(rec), f"line {line}: {exc}", exc.kind))
        except _Reject as exc:
            bad.append((line, raw or _record_text(rec), f"line {line}: {exc}", "bad record"))
    return ReadResult(
        attempts_from_records(good, source=source),
        rejects_frame(bad, source),
        files=files,
        what="attempts",
        skipped=skipped,
    )


def _record_text(rec: Any) -> str:
    if isinstance(rec, LogRecord):
        rec = rec.raw
    try:
        return json.dumps(rec, default=str)
    except (TypeError, ValueError):
        return repr(rec)


# --------------------------------------------------------------------------- endpoint kit log


def _endpoint_row(rec: LogRecord, *, router_id: int | None, policy: Policy) -> dict[str, Any]:
    status = _opt_int(rec.get("status"), "status")
    if status is None:
        raise _Reject("status: missing")
    latency = _opt_float(rec.get("latency_ms"), "latency_ms")
    if math.isnan(latency):
        raise _Reject("latency_ms: missing")
    decision = rec.decision
    target_id = target_type = None
    early = reply_outcome(status, latency, deadline_ms=policy.deadline_ms)
    if early is not None:
        outcome = early
    elif decision:
        outcome = "ok"
        target_id, target_type = decision
    else:
        outcome = "invalid_response"
    return {
        "time": _time_ms(rec.get("ts")),
        "call_id": _opt_int(rec.get("call_id"), "call_id"),
        "router_id": router_id,
        "latency_ms": latency,
        "outcome": outcome,
        "http_status": status,
        "target_id": target_id,
        "target_type": target_type,
        "is_default": None if outcome == "ok" else True,
        "error_count": None,
    }


def read_endpoint_log(
    source: LogSource,
    *,
    router_id: int | None = None,
    policy: Policy = DIALPAD,
    start: Any = None,
    end: Any = None,
) -> ReadResult:
    """Attempts from the endpoint kit's JSONL log, as Dialpad would have seen them.

    Lines that are not log records, or records that cannot be attempts, are in the
    rejects with their 1-based line. ``router_id`` labels every attempt (the log is per
    endpoint, not per router). ``policy`` gives the deadline beyond which an answer
    counts as a ``timeout``. A rotated log is read across its generations (``files``; a
    reject's line counts within its file); reload events are skipped (``skipped``).

    ``source`` may be a dataset (``ingest(..., attempts=endpoint_attempts)``): its stored
    attempts with ``start <= time < end``, of ``router_id`` when given (a filter there, not a
    label); see :func:`~dialpad_nb.health.dataset_attempts.read_dataset_attempts`."""
    from ..calls.dataset import is_dataset

    if is_dataset(source):
        from .dataset_attempts import read_dataset_attempts

        return read_dataset_attempts(source, start=start, end=end, router_id=router_id, policy=policy)  # type: ignore[arg-type]
    if start is not None or end is not None:
        raise ValidationError("start/end filter a dataset; read the log and filter its times", field="start")

    def convert(rec: LogRecord) -> dict[str, Any]:
        return _endpoint_row(rec, router_id=router_id, policy=policy)

    files = tuple(os.fspath(f) for f in log_files(source)) if isinstance(source, (str, os.PathLike)) else ()
    return _read(iter_log(source), convert, source="endpoint_log", files=files)


# --------------------------------------------------------------------------- CSV


_CSV_FIELDS = (
    "time",
    "call_id",
    "router_id",
    "latency_ms",
    "outcome",
    "http_status",
    "target_id",
    "target_type",
    "is_default",
    "error_count",
)
_TIME_UNITS = {"ms": 1, "s": 1000}
_LATENCY_UNITS = {"ms": 1.0, "s": 1000.0, "us": 0.001}


def read_attempts_csv(
    path: str | Path | IO[str],
    *,
    columns: Mapping[str, str] | None = None,
    time_format: str | None = None,
    time_unit: str = "ms",
    timezone: str = "UTC",
    latency_unit: str = "ms",
    outcome_map: Mapping[str, str] | None = None,
    router_id: int | None = None,
    policy: Policy = DIALPAD,
    source: str = "csv",
) -> ReadResult:
    """Attempts from a CSV file, with a mapping from our column names to yours.

    ``columns`` maps attempt columns to CSV headers, e.g.
    ``{"time": "Timestamp", "latency_ms": "Duration (ms)", "outcome": "Result"}``;
    unmapped attempt columns are looked up under their own names (so a file
    written by :func:`write_attempts_csv` reads back with no mapping).

    Times: ISO-8601 text (naive times are in ``timezone``), text in
    ``time_format`` (strptime codes), or numbers in ``time_unit`` (``ms``/``s``)
    since the epoch. Latencies are in ``latency_unit`` (``ms``/``s``/``us``).
    ``outcome_map`` translates your outcome labels to ``policy.OUTCOMES``. With
    no outcome column but an ``http_status`` one, the outcome is derived as Dialpad
    would (``policy.reply_outcome``): a latency over the deadline → ``timeout``
    (whatever the status), else not 2xx → ``http_status``, else ``ok``. ``router_id`` labels every row when the file has no router
    column.
    """
    if time_unit not in _TIME_UNITS:
        raise ValidationError(f"{time_unit!r} is not one of {', '.join(_TIME_UNITS)}", field="time_unit")
    if latency_unit not in _LATENCY_UNITS:
        raise ValidationError(
            f"{latency_unit!r} is not one of {', '.join(_LATENCY_UNITS)}", field="latency_unit"
        )
    mapping = dict(columns or {})
    unknown = sorted(set(mapping) - set(_CSV_FIELDS))
    if unknown:
        raise ValidationError(
            f"unknown attempt column(s) {unknown}; mappable: {', '.join(_CSV_FIELDS)}", field="columns"
        )
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    headers = {field: mapping.get(field, field) for field in _CSV_FIELDS}
    missing_mapped = sorted(h for f, h in headers.items() if f in mapping and h not in raw.columns)
    if missing_mapped:
        raise ValidationError(
            f"the CSV has no column(s) {missing_mapped}; it has {list(raw.columns)}", field="columns"
        )
    present = {f: h for f, h in headers.items() if h in raw.columns}
    if "time" not in present:
        raise ValidationError(
            f"no time column {headers['time']!r} in the CSV; map one with columns=", field="columns"
        )
    if "outcome" not in present and "http_status" not in present:
        raise ValidationError("the CSV needs an outcome column or an http_status column", field="columns")
    outcome_map = dict(outcome_map or {})
    bad_map = sorted(v for v in outcome_map.values() if v not in OUTCOMES)
    if bad_map:
        raise ValidationError(f"{bad_map} not in {', '.join(OUTCOMES)}", field="outcome_map")
    latency_scale = _LATENCY_UNITS[latency_unit]

    def parse_time(text: str) -> int:
        text = text.strip()
        if not text:
            raise _Reject("time: missing")
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return round(number * _TIME_UNITS[time_unit])
        try:
            if time_format:
                stamp = pd.Timestamp(pd.to_datetime(text, format=time_format))
            else:
                stamp = pd.Timestamp(text)
        except (ValueError, TypeError) as exc:
            raise _Reject(f"time: {text!r} is not a time ({exc})") from None
        if stamp is pd.NaT:
            raise _Reject(f"time: {text!r} is not a time")
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize(timezone)
        return int(stamp.tz_convert("UTC").as_unit("ns").value) // 1_000_000

    def convert(rec: Mapping[str, str]) -> dict[str, Any]:
        row: dict[str, Any] = {f: (rec[h] if h in rec else None) for f, h in present.items()}
        latency = _opt_float(row.get("latency_ms"), "latency_ms")
        if not math.isnan(latency):
            latency *= latency_scale
        status = _opt_int(row.get("http_status"), "http_status")
        label = (row.get("outcome") or "").strip() if "outcome" in present else ""
        if label:
            outcome = _outcome(outcome_map.get(label, label))
        elif status is not None:
            outcome = reply_outcome(status, latency, deadline_ms=policy.deadline_ms) or "ok"
        else:
            raise _Reject("outcome: missing (and no http_status to derive it from)")
        if outcome == "skipped_disabled" and not math.isnan(latency):
            raise _Reject("latency_ms: a skipped_disabled attempt made no request but has a latency")
        rid = _opt_int(row.get("router_id"), "router_id")
        return {
            "time": parse_time(row["time"]),
            "call_id": _opt_int(row.get("call_id"), "call_id"),
            "router_id": router_id if rid is None else rid,
            "latency_ms": latency,
            "outcome": outcome,
            "http_status": status,
            "target_id": _opt_int(row.get("target_id"), "target_id"),
            "target_type": (row.get("target_type") or "").strip() or None,
            "is_default": _opt_bool(row.get("is_default"), "is_default"),
            "error_count": _opt_int(row.get("error_count"), "error_count"),
        }

    records = raw.to_dict("records")
    files = (os.fspath(path),) if isinstance(path, (str, os.PathLike)) else ()
    items = ((i, r, ",".join(str(v) for v in r.values())) for i, r in enumerate(records, start=1))
    return _read(items, convert, source=source, files=files)


def write_attempts_csv(attempts: pd.DataFrame, path: str | Path | IO[str]) -> None:
    """Write attempts as CSV (ISO times with milliseconds, UTC) that
    :func:`read_attempts_csv` reads back unchanged with no mapping."""
    out = attempts[[c for c in ATTEMPT_COLUMNS if c not in ("is_error", "source")]].copy()
    out["time"] = out["time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    out.to_csv(path, index=False, lineterminator="\n")


# --------------------------------------------------------------------------- the sandbox beside the log


SIDE_BY_SIDE_COLUMNS: tuple[str, ...] = (
    "call_id",
    "time",
    "caller",
    "dialled",
    "sandbox_outcome",
    "target",
    "is_default",
    "error_count",
    "disabled_after",
    "endpoint_outcome",
    "rule",
    "fallback",
    "endpoint_status",
)


def side_by_side(
    attempts: pd.DataFrame,
    log: LogSource | pd.DataFrame,
    *,
    name_of: Callable[[int, str], str] | None = None,
) -> pd.DataFrame:
    """What the sandbox did with each call beside what the endpoint logged for it.

    ``attempts`` is ``SandboxControl.attempts()``; ``log`` the endpoint's log (or
    ``read_log(...).frame``). Joined on ``call_id``: a call that made no
    request (router disabled) or whose request never reached the endpoint has
    empty endpoint columns. ``name_of(id, type)`` names targets (e.g.
    ``client.targets().name_of``). Timing columns are left out so the table is
    stable from run to run. Columns: :data:`SIDE_BY_SIDE_COLUMNS`."""
    logged = log if isinstance(log, pd.DataFrame) else read_log(log).frame
    logged = logged.dropna(subset=["call_id"]).drop_duplicates("call_id", keep="first")
    right = logged[["call_id", "outcome", "rule", "fallback", "status"]].rename(
        columns={"outcome": "endpoint_outcome", "status": "endpoint_status"}
    )
    left = attempts[
        ["call_id", "time", "external_number", "internal_number", "outcome", "target_id", "target_type"]
        + ["is_default", "error_count", "disabled_after"]
    ].rename(
        columns={"external_number": "caller", "internal_number": "dialled", "outcome": "sandbox_outcome"}
    )
    out = left.merge(right, on="call_id", how="left")

    def target(row: Any) -> str:
        if pd.isna(row["target_id"]):
            return ""
        tid, ttype = int(row["target_id"]), str(row["target_type"])
        return name_of(tid, ttype) if name_of else f"{ttype} {tid}"

    out["target"] = out.apply(target, axis=1) if len(out) else pd.Series(dtype="string")
    out["fallback"] = out["fallback"].astype("boolean")
    return out[list(SIDE_BY_SIDE_COLUMNS)].reset_index(drop=True)
