"""Dialpad's call history as call records: what ``read_calls`` and ``from_dialpad_calls`` read.

Sources (:func:`iter_call_records` takes any of them; ``read_calls`` recognises them):

* the frame :meth:`DialpadClient.calls` returns (its ``raw`` column), or a list of
  ``CallProto`` dicts, ``call.list`` pages (``{"items": [...], "cursor": ...}``) or receiver
  log records;
* a file of them: JSON Lines (one call, one page or one receiver record per line, ``.gz``
  too) or one JSON document (an array of calls or pages, or one page);
* the event receiver's log (:mod:`dialpad_nb.endpoint.receiver`), a file or the
  ``ReceiverLog`` itself: a call has one event per state there; the latest (by
  ``event_timestamp``) stands for the call and its earlier events are counted as
  ``superseded event`` rejects, so accepted + rejected is still every record.

Each record is checked once (:func:`dialpad_nb.core.history.check_call`); a record that is
not a routed call (bad JSON, a bad field, a call that did not come through a router) is
refused with its line (and item, inside a page) and the reason.

Into the ``calls`` frame (replay), per accepted call:

* the routing request is the breadcrumb's ``request`` (checked and normalised exactly like a
  logged payload); without one it is rebuilt from the call's fields and ``request_note`` says
  why (assumption ``no_breadcrumb_disabled``);
* the logged decision (``logged_target_*``) is the breadcrumb's target, what Dialpad used
  (assumption ``breadcrumb_target``); none without a breadcrumb (no routing decision was made);
* ``router_id`` is the entry-point router; ``signed`` is unknown (empty).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from ..core.errors import SourceNotFound, ValidationError
from ..core.event_log import check_event_record, is_event_record
from ..core.frames import RAW_LIMIT, ReadResult
from ..core.history import BadCallRecord, RoutedCall, check_call, is_call_record
from .columns import PAYLOAD_FIELDS, Part
from .decoding import DecodedFile
from .reader import CallReader, _Bad, _LazyLines, line_chunks

__all__ = [
    "CallItem",
    "is_history_input",
    "iter_call_records",
    "read_history",
    "sniff_history_file",
]

_SNIFF_BYTES = 1 << 20
_NO_BREADCRUMB = (
    "rebuilt from the call's fields: no routing breadcrumb (no request was made: the router was disabled)"
)
_NO_REQUEST = "rebuilt from the call's fields: the routing breadcrumb holds no request object"


@dataclass(frozen=True)
class CallItem:
    """One record of a call-history source: where it is (``line``, and ``where`` for messages:
    ``line 3`` or ``line 3, item 7``), the checked call or why not, and its raw text."""

    line: int
    where: str
    call: RoutedCall | BadCallRecord
    raw: str


# --------------------------------------------------------------------------- recognising sources


def _is_page(obj: Any) -> bool:
    return isinstance(obj, Mapping) and isinstance(obj.get("items"), list) and "call_id" not in obj


def _is_history_value(obj: Any) -> bool:
    return is_call_record(obj) or is_event_record(obj) or _is_page(obj)


def is_history_input(source: Any) -> bool:
    """Whether ``source`` is call history held in memory (a ``client.calls()`` frame, a list of
    call records, pages or receiver records, or a ``ReceiverLog``)."""
    if isinstance(source, pd.DataFrame):
        return "raw" in source.columns
    if hasattr(source, "records") and callable(source.records) and hasattr(source, "events"):
        return True
    if isinstance(source, (list, tuple)) and source and isinstance(source[0], Mapping):
        return _is_history_value(source[0])
    return False


def _open(path: str) -> DecodedFile:
    return DecodedFile(path)


_DOCUMENT_BYTES = 64 << 20
"""A pretty-printed JSON document of call history is read whole; a larger file is not one."""


def sniff_history_file(path: str) -> str | None:
    """``"lines"`` (JSON Lines of calls, pages or receiver records), ``"document"`` (one JSON
    array or page) or None (not call history: the routing-request readers take it)."""
    try:
        return _sniff(path)
    except (OSError, ValueError, RecursionError):  # unreadable: the line readers reject it with a reason
        return None


def _sniff(path: str) -> str | None:
    with _open(path) as f:
        head = f.read(_SNIFF_BYTES)
        first = head.lstrip()[:1]
        if first not in (b"{", b"["):
            return None
        start = len(head) - len(head.lstrip())
        end = head.find(b"\n", start)
        line = head[start:] if end < 0 else head[start:end]
        if end < 0 and len(head) == _SNIFF_BYTES:  # a long first line: read the rest of it
            line += f.readline()
    try:
        value = json.loads(line)
    except ValueError:
        value = None
    if value is not None:
        if isinstance(value, list):
            return "document" if value and _is_history_value(value[0]) else None
        return "lines" if _is_history_value(value) else None
    if os.path.getsize(path) > _DOCUMENT_BYTES:  # not a saved page: don't load a big log to find out
        return None
    try:  # a pretty-printed document
        with _open(path) as f:
            value = json.load(f)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, list):
        return "document" if value and _is_history_value(value[0]) else None
    return "document" if _is_history_value(value) else None


# --------------------------------------------------------------------------- records


def _text(obj: Any) -> str:
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(obj)


def _expand(
    line: int, value: Any, raw: str | None, events: list[tuple[CallItem, Mapping[str, Any]]]
) -> Iterator[CallItem]:
    """The call items of one decoded value (a call, a page, a receiver record)."""
    if isinstance(value, Exception):
        reason = getattr(value, "msg", None) or type(value).__name__
        yield CallItem(line, f"line {line}", BadCallRecord(f"not JSON: {reason}", kind="bad JSON"), raw or "")
        return
    if _is_page(value):
        for k, item in enumerate(value["items"], start=1):
            yield from _one(line, f"line {line}, item {k}", item, None, events)
        return
    yield from _one(line, f"line {line}", value, raw, events)


def _one(
    line: int, where: str, value: Any, raw: str | None, events: list[tuple[CallItem, Mapping[str, Any]]]
) -> Iterator[CallItem]:
    text = raw if raw is not None else _text(value)
    if is_event_record(value):
        try:
            event = check_event_record(value)
            item = CallItem(line, where, check_call(event), text)
        except BadCallRecord as exc:
            yield CallItem(line, where, exc, text)
            return
        events.append((item, value))  # held back: only the latest event of a call stands for it
        return
    try:
        yield CallItem(line, where, check_call(value), text)
    except BadCallRecord as exc:
        yield CallItem(line, where, exc, text)


def _settle_events(events: list[tuple[CallItem, Mapping[str, Any]]]) -> list[CallItem]:
    """One item per call from receiver events: the latest event stands, the others are
    ``superseded event`` rejects (in line order)."""
    latest: dict[int, tuple[tuple[int, int], CallItem]] = {}
    for item, _ in events:
        call = item.call
        assert isinstance(call, RoutedCall)
        key = (call.event_timestamp if call.event_timestamp is not None else -1, item.line)
        best = latest.get(call.call_id)
        if best is None or key >= best[0]:
            latest[call.call_id] = (key, item)
    out = []
    for item, _ in events:
        call = item.call
        assert isinstance(call, RoutedCall)
        winner = latest[call.call_id][1]
        if winner is item:
            out.append(item)
        else:
            reason = (
                f"call {call.call_id}'s {call.state or 'event'} event is superseded by its "
                f"{getattr(winner.call, 'state', None) or 'later'} event at {winner.where}"
            )
            out.append(
                CallItem(item.line, item.where, BadCallRecord(reason, kind="superseded event"), item.raw)
            )
    return out


def _decoded_lines(data: Iterable[bytes], first: int = 1) -> Iterator[tuple[int, Any, str]]:
    for number, line in enumerate(data, start=first):
        text = line.decode("utf-8", "replace").strip()
        if not text:
            continue
        try:
            value: Any = json.loads(line)
        except (ValueError, RecursionError) as exc:
            value = exc
        yield number, value, text


def _shown(value: Any) -> str:
    missing = value is None or value is pd.NA or (isinstance(value, float) and value != value)
    return "" if missing else str(value)


def _source_values(source: Any) -> tuple[str, Iterator[tuple[int, Any, str | None]]]:
    """``(label, (line, value, raw) ...)`` of an in-memory source or a file."""
    if isinstance(source, pd.DataFrame):
        if "raw" not in source.columns:
            raise ValidationError(
                "a call-history frame needs its 'raw' column (client.calls() keeps it)", field="source"
            )
        label = str(source.attrs.get("source") or "calls frame")

        def rows() -> Iterator[tuple[int, Any, str | None]]:
            for i, raw in enumerate(source["raw"].tolist(), start=1):
                if not isinstance(raw, (str, bytes)):  # empty (NA) or not text
                    yield i, ValueError("raw is not the record's JSON text"), _shown(raw)
                    continue
                try:
                    yield i, json.loads(raw), str(raw)
                except (ValueError, RecursionError) as exc:
                    yield i, exc, str(raw)

        return label, rows()
    if hasattr(source, "records") and callable(source.records):
        return "receiver log", ((i, r, None) for i, r in enumerate(source.records(), start=1))
    if isinstance(source, (list, tuple)):
        return "records", ((i, r, None) for i, r in enumerate(source, start=1))
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise SourceNotFound(f"source: no such file {path!r}")
    kind = sniff_history_file(path)
    if kind == "document":
        with _open(path) as f:
            doc = json.load(f)
        values = doc if isinstance(doc, list) else [doc]
        return path, ((i, v, None) for i, v in enumerate(values, start=1))
    if kind is None:
        raise ValidationError(
            f"{path!r} holds no Dialpad call history (calls, call.list pages or receiver events)",
            field="source",
        )

    def lines() -> Iterator[tuple[int, Any, str | None]]:
        with _open(path) as f:
            yield from _decoded_lines(f)

    return path, lines()


def iter_call_records(source: Any) -> tuple[str, list[CallItem]]:
    """``(label, items)``: every record of a call-history source, checked (see the module docstring)."""
    label, values = _source_values(source)
    return label, _items(values)


def _items(values: Iterable[tuple[int, Any, str | None]]) -> list[CallItem]:
    events: list[tuple[CallItem, Mapping[str, Any]]] = []
    items = [item for line, value, raw in values for item in _expand(line, value, raw, events)]
    if events:
        items += _settle_events(events)
        items.sort(key=lambda i: i.line)
    return items


# --------------------------------------------------------------------------- into the calls frame


def _rebuilt(call: RoutedCall) -> dict[str, Any]:
    raw = call.raw
    found = raw.get("contact")
    contact: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    return {
        "date_started": raw.get("date_started"),
        "call_id": raw.get("call_id"),
        "external_number": raw.get("external_number"),
        "internal_number": raw.get("internal_number"),
        "contact_id": contact.get("id"),
        "contact_type": contact.get("type"),
    }


def _add(reader: CallReader, part: Part, item: CallItem) -> None:
    call = item.call
    if isinstance(call, BadCallRecord):
        part.rejects.append(_reject(reader, item, call.kind, str(call)))
        return
    request = call.request
    note = None
    if not isinstance(request, Mapping):
        note = _NO_BREADCRUMB if call.breadcrumb is None else _NO_REQUEST
        request = _rebuilt(call)
    row = reader._validate_payload(dict(request))
    if isinstance(row, _Bad):  # the same reason the vectorised path gives
        part.rejects.append(_reject(reader, item, row.kind, row.reason))
        return
    row = (row[0], call.call_id, *row[2:])  # the call's own id identifies it
    c = part.cols
    for name, value in zip(PAYLOAD_FIELDS, row, strict=True):
        c[name].append(value)
    target = call.target if call.breadcrumb is not None else None
    c["logged_target_id"].append(None if target is None else target[0])
    c["logged_target_type"].append(None if target is None else target[1])
    c["logged_rule"].append(None)
    c["signed"].append(None)
    c["router_id"].append(call.router_id)
    c["request_note"].append(note)
    c["line"].append(item.line)


def _reject(reader: CallReader, item: CallItem, kind: str, reason: str) -> tuple[int, str, str, str]:
    return (item.line, reader._scrub(item.raw)[:RAW_LIMIT], reader._scrub(f"{item.where}: {reason}"), kind)


def read_history(reader: CallReader, source: Any, *, chunksize: int = 1_000_000) -> Iterator[ReadResult]:
    """``ReadResult`` chunks of the calls frame from a call-history source (``read_calls`` calls this)."""
    if not isinstance(source, (pd.DataFrame, list, tuple)) and not hasattr(source, "records"):
        path = os.fspath(source)
        if sniff_history_file(path) == "lines" and not _has_events(path):
            yield from _line_chunks(reader, path, chunksize)
            return
    if isinstance(source, pd.DataFrame) and VECTORISED and "raw" in source.columns and len(source):
        raws = source["raw"].tolist()
        if all(isinstance(r, str) and "\n" not in r for r in raws):  # one record per line: the fast path
            part = Part()
            buf = ("\n".join(raws) + "\n").encode()
            records = _vector_chunk(reader, part, buf, len(raws), 1)
            if records is not None:
                calls, rejects = reader.finish(part, str(source.attrs.get("source") or "calls frame"))
                yield ReadResult(calls, rejects, records=records)
                return
    label, items = iter_call_records(source)
    part = Part()
    for item in items:
        _add(reader, part, item)
    calls, rejects = reader.finish(part, label)
    files = (
        (label,)
        if not isinstance(source, (pd.DataFrame, list, tuple)) and not hasattr(source, "records")
        else ()
    )
    yield ReadResult(calls, rejects, files=files, records=len(items))


def _has_events(path: str) -> bool:
    with _open(path) as f:
        return b'"kind":"call_event"' in f.read(4096).replace(b" ", b"")


def _line_chunks(reader: CallReader, path: str, chunksize: int) -> Iterator[ReadResult]:
    """JSON Lines of calls or pages, ``chunksize`` lines at a time (bounded memory)."""
    with _open(path) as f:
        first = 1
        for buf, n_lines in line_chunks(f, chunksize):
            part = Part()
            records = _vector_chunk(reader, part, buf, n_lines, first) if VECTORISED else None
            if records is None:
                part = Part()
                items = _items(_decoded_lines(buf.split(b"\n")[:n_lines], first))
                for item in items:
                    _add(reader, part, item)
                records = len(items)
            calls, rejects = reader.finish(part, path)
            yield ReadResult(calls, rejects, files=(path,), records=records)
            first += n_lines
        if first == 1:
            part = Part()
            calls, rejects = reader.finish(part, path)
            yield ReadResult(calls, rejects, files=(path,), records=0)


# --------------------------------------------------------------------------- the vectorised path

VECTORISED = True
"""Read blocks of plain ``CallProto`` lines with pyarrow (tests switch it off to compare paths)."""

_S, _I = pa.string(), pa.int64()
_CALL_SCHEMA = pa.schema(
    [
        ("call_id", _I),
        ("date_started", _I),
        ("external_number", _S),
        ("internal_number", _S),
        ("contact", pa.struct([("id", _S), ("type", _S)])),
        ("target", pa.struct([("id", _S), ("type", _S)])),
        ("entry_point_target", pa.struct([("id", _S), ("type", _S)])),
        (
            "routing_breadcrumbs",
            pa.list_(
                pa.struct(
                    [
                        ("breadcrumb_type", _S),
                        ("date", _I),
                        (
                            "request",
                            pa.struct(
                                [(f, _S if "number" in f or "contact" in f else _I) for f in PAYLOAD_FIELDS]
                            ),
                        ),
                        ("target_id", _I),
                        ("target_type", _S),
                    ]
                )
            ),
        ),
    ]
)
"""The fields replay reads, typed as Dialpad's spec types them; a block that does not parse with
these types (ids sent as text, a request that is a string, ...) goes to the reference path."""

_MAX_MS = 253_402_300_799_999


def _arrow_calls(buf: bytes) -> pa.Table | None:
    try:
        return pj.read_json(
            io.BytesIO(buf),
            read_options=pj.ReadOptions(use_threads=True, block_size=1 << 24),
            parse_options=pj.ParseOptions(explicit_schema=_CALL_SCHEMA, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError):
        return None


def _np_bool(array: Any) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False), dtype=bool)


def _digits(array: Any) -> tuple[np.ndarray, np.ndarray]:
    """Which strings are a positive 64-bit decimal id (as ``core.history`` accepts them)."""
    ok = _np_bool(pc.match_substring_regex(array, r"^[0-9]{1,19}$"))
    values = np.zeros(len(ok), dtype=np.int64)
    if ok.any():
        as_int = pc.cast(pc.if_else(pa.array(ok), array, "0"), pa.uint64(), safe=False)
        u = np.asarray(as_int, dtype=np.uint64)
        ok &= (u > 0) & (u < 2**63)
        values = np.where(ok, u, 0).astype(np.int64)
    return ok, values


def _vector_chunk(reader: CallReader, part: Part, buf: bytes, n_lines: int, first: int) -> int | None:
    """Read a chunk of plain CallProto lines vectorised into ``part``; the record count, or None
    when the chunk is not that (pages, events, blank lines, other types: the reference path).

    Rows the vector checks cannot vouch for exactly (a non-router first breadcrumb, a request
    whose call_id differs, a call that is not routed, odd ids...) are read by the reference path,
    so both paths give the same frame and the same rejects (property-tested)."""
    if not buf.startswith(b"{") or buf.count(b"\n{") != n_lines - 1:
        return None
    table = _arrow_calls(buf)
    if table is None or table.num_rows != n_lines:
        return None
    n = n_lines
    raws = _LazyLines(buf)  # split only if a reject or a reference row needs a line's text
    call_id = np.asarray(pc.fill_null(table["call_id"], 0), dtype=np.int64)
    started = np.asarray(pc.fill_null(table["date_started"], -1), dtype=np.int64)
    entry = pa.concat_arrays(table["entry_point_target"].chunks)
    crumbs = pa.concat_arrays(table["routing_breadcrumbs"].chunks)
    target = pa.concat_arrays(table["target"].chunks)
    entry_type = entry.field("type")
    is_router = _np_bool(pc.equal(entry_type, "callrouter"))
    entry_ok, router_id = _digits(entry.field("id"))
    n_crumbs = np.asarray(pc.fill_null(pc.list_value_length(crumbs), 0), dtype=np.int64)
    has_crumb = n_crumbs > 0
    firsts = pc.list_element(pc.if_else(pa.array(has_crumb), crumbs, pa.scalar([None], crumbs.type)), 0)
    ctype = firsts.field("breadcrumb_type")
    crumb_kind_ok = ~has_crumb | _np_bool(pc.or_kleene(pc.is_null(ctype), pc.equal(ctype, "callrouter")))
    crumb_date = firsts.field("date")
    date_ok = ~_np_bool(
        pc.and_kleene(
            pc.is_valid(crumb_date), pc.or_kleene(pc.less(crumb_date, 0), pc.greater(crumb_date, _MAX_MS))
        )
    )
    tid, ttype = firsts.field("target_id"), firsts.field("target_type")
    crumb_target_ok = _np_bool(pc.and_kleene(pc.greater(tid, 0), pc.greater(pc.utf8_length(ttype), 0)))
    request = firsts.field("request")
    has_request = has_crumb & _np_bool(pc.is_valid(request))
    request_id = np.asarray(pc.fill_null(request.field("call_id"), 0), dtype=np.int64)
    call_target_ok, _ = _digits(target.field("id"))
    no_call_target = _np_bool(pc.and_kleene(pc.is_null(target.field("id")), pc.is_null(target.field("type"))))
    call_target_ok = (
        call_target_ok & _np_bool(pc.greater(pc.utf8_length(target.field("type")), 0))
    ) | no_call_target
    vector = (
        (call_id > 0)
        & (started >= 0)
        & (started <= _MAX_MS)
        & (~is_router | entry_ok)
        & (is_router | has_crumb)
        & crumb_kind_ok
        & date_ok
        & (~has_crumb | crumb_target_ok)
        & (has_crumb | call_target_ok)
        & (~has_request | (request_id == call_id))
    )
    lines = np.arange(first, first + n, dtype=np.int64)
    router = pa.array(np.where(is_router, router_id, 0), pa.int64()).to_numpy(zero_copy_only=False)
    router_col = pa.array(router, mask=~is_router)
    groups = (
        (vector & has_request, None),
        (vector & has_crumb & ~has_request, _NO_REQUEST),
        (vector & ~has_crumb, _NO_BREADCRUMB),
    )
    for mask, note in groups:
        idx = np.flatnonzero(mask)
        if not len(idx):
            continue
        take = pa.array(idx)
        if note is None:
            flat = request.take(take)
            cols = {f: flat.field(f) for f in PAYLOAD_FIELDS}
        else:
            sub = table.take(take)
            contact = pa.concat_arrays(sub["contact"].chunks)
            cols = {
                "date_started": sub["date_started"],
                "call_id": sub["call_id"],
                "external_number": sub["external_number"],
                "internal_number": sub["internal_number"],
                "contact_id": contact.field("id"),
                "contact_type": contact.field("type"),
            }
        with_target = has_crumb[idx]
        logged = {
            "logged_target_id": pc.if_else(pa.array(with_target), tid.take(take), None),
            "logged_target_type": pc.if_else(pa.array(with_target), ttype.take(take), None),
            "logged_rule": pa.nulls(len(idx), pa.string()),
            "signed": pa.nulls(len(idx), pa.bool_()),
            "router_id": router_col.take(take),
            "request_note": pa.nulls(len(idx), pa.string())
            if note is None
            else pa.array([note] * len(idx), pa.string()),
        }
        sub_raws = cast(list[bytes], _Subset(raws, idx))  # only indexed (for the texts of rejects)
        if not reader._vector_payloads(
            part, cols, lines[idx].tolist(), sub_raws, signed=False, logged=logged
        ):
            vector[idx] = False  # unusual column types: the reference path reads these rows
    rest = np.flatnonzero(~vector)
    items: list[CallItem] = []
    if len(rest):  # a line may hold a page of calls or a receiver record: count what it holds
        values = ((int(lines[i]), raws[i]) for i in rest.tolist())
        items = _items((line, *_decode(raw)) for line, raw in values)
        for item in items:
            _add(reader, part, item)
    return n - len(rest) + len(items)


class _Subset:
    """``raws[idx[k]]`` as ``view[k]``: the raw lines of one group, split only when read."""

    def __init__(self, raws: Any, idx: np.ndarray) -> None:
        self._raws, self._idx = raws, idx

    def __getitem__(self, k: int) -> bytes:
        return self._raws[int(self._idx[k])]


def _decode(raw: bytes) -> tuple[Any, str]:
    try:
        value: Any = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        value = exc
    return value, raw.decode("utf-8", "replace").strip()
