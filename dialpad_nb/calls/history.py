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

import gzip
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..core.errors import SourceNotFound, ValidationError
from ..core.event_log import check_event_record, is_event_record
from ..core.frames import RAW_LIMIT, ReadResult
from ..core.history import BadCallRecord, RoutedCall, check_call, is_call_record
from .columns import PAYLOAD_FIELDS, Part
from .reader import CallReader, _Bad, line_chunks

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


def _open(path: str) -> io.BufferedIOBase:
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def sniff_history_file(path: str) -> str | None:
    """``"lines"`` (JSON Lines of calls, pages or receiver records), ``"document"`` (one JSON
    array or page) or None (not call history: the routing-request readers take it)."""
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
                if raw is None or raw is pd.NA or (isinstance(raw, float) and raw != raw):
                    yield i, ValueError("raw is empty"), ""
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
        where = "the call's fields"
    else:
        where = "the breadcrumb's request"
    row = reader._validate_payload(dict(request))
    if isinstance(row, _Bad):
        part.rejects.append(_reject(reader, item, row.kind, f"{where}: {row.reason}"))
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
            values = _decoded_lines(buf.split(b"\n")[:n_lines], first)
            items = _items(values)
            part = Part()
            for item in items:
                _add(reader, part, item)
            calls, rejects = reader.finish(part, path)
            yield ReadResult(calls, rejects, files=(path,), records=len(items))
            first += n_lines
        if first == 1:
            part = Part()
            calls, rejects = reader.finish(part, path)
            yield ReadResult(calls, rejects, files=(path,), records=0)
