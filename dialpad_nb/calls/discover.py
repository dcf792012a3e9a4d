"""Which files in a folder are call logs: what a log picker offers.

A file is listed when its name is one :func:`~dialpad_nb.calls.read_calls` reads (``.jsonl``,
``.ndjson``, ``.json``, ``.jwt``, ``.log``, ``.txt``, ``.csv``, ``.parquet``, ``.pq``, each
optionally ``.gz``), it can be opened, and its first record looks like a routing request: a
JSON object with routing-request fields, an endpoint kit record, a ``{"token": ...}`` wrapper or
a compact JWT; for CSV and Parquet, a header with ``date_started`` and ``call_id``. So
``endpoint.jsonl`` is offered whatever its name, and ``capacity.csv`` or ``notes.txt`` are not.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from pathlib import Path

from ..core.errors import SourceNotFound
from .columns import PAYLOAD_FIELDS
from .read import _file_format, _is_log_name

__all__ = ["find_call_logs", "looks_like_call_log"]

_JWT = re.compile(rb"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_RECORD_KEYS = frozenset(PAYLOAD_FIELDS) | {"payload", "token", "jwt"}
_SNIFF_BYTES = 1 << 16


def find_call_logs(folder: str | os.PathLike) -> dict[str, str]:
    """``{label: path}`` of every call log under ``folder`` (labels are paths relative to it),
    sorted by label. Raises :class:`~dialpad_nb.core.errors.SourceNotFound` when the folder does
    not exist, or holds no call log, saying what was looked for."""
    root = Path(folder)
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise SourceNotFound(
            f"logs: {os.fspath(folder)!r} {what}; give the folder that holds the call logs (e.g. 'data')"
        )
    found = {
        p.relative_to(root).as_posix(): os.fspath(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and _is_log_name(p.name) and looks_like_call_log(p)
    }
    if not found:
        raise SourceNotFound(
            f"logs: no call log in folder {os.fspath(folder)!r} (looked for JSON lines, CSV or Parquet "
            "files of routing requests or endpoint kit records, optionally .gz)"
        )
    return dict(sorted(found.items()))


def looks_like_call_log(path: str | os.PathLike) -> bool:
    """Whether ``path`` can be opened and its first record looks like a routing request (see the
    module docstring). Never raises: an unreadable file is not a log to offer."""
    text = os.fspath(path)
    try:
        fmt = _file_format(text)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return {"date_started", "call_id"} <= set(pq.read_schema(text).names)
        head = _head(text)
    except (OSError, EOFError, ValueError, zlib.error):  # unreadable, broken gzip, broken Parquet footer
        return False
    if fmt == "csv":
        header = head.splitlines()[0] if head.strip() else b""
        return {b"date_started", b"call_id"} <= {c.strip().strip(b'"') for c in header.split(b",")}
    first = next((line.strip() for line in head.splitlines() if line.strip()), b"")
    if _JWT.match(first):
        return True
    try:
        record = json.loads(first)
    except ValueError:  # a first line cut by the sniff window, or not JSON at all
        return False
    return isinstance(record, dict) and bool(_RECORD_KEYS & set(record))


def _head(path: str) -> bytes:
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        with gzip.open(path, "rb") as g:
            return g.read(_SNIFF_BYTES)
    with open(path, "rb") as f:
        return f.read(_SNIFF_BYTES)
