"""Read logged routing requests into one typed DataFrame, plus every record that was refused.

``read_calls(source, secret=None)`` reads files holding Dialpad routing
requests (``{"date_started", "call_id", "external_number", "internal_number",
"contact_id", "contact_type"}``) in any of these shapes, one record per line,
mixed freely in one file:

- plain JSON payloads;
- compact HS256 JWTs of the payload (what Dialpad POSTs when the router has a secret);
- JSON-wrapped JWTs: ``{"token": "..."}`` or ``{"jwt": "..."}``;
- the endpoint kit's log records (``{"v": 1, "payload": {...}, "decision": {...}, "rule": ...}``),
  which also carry the decision the endpoint made (``logged_target_*``, ``logged_rule``);

and ``.gz`` variants, CSV and Parquet files whose columns are the payload
fields. ``source`` is a file, a folder, a glob, or a list of them; the active file of a
rotated endpoint log brings its rotated generations (oldest first, gzip included). The
endpoint log's event records (matrix reloads) are not requests: skipped, and counted in
``ReadResult.skipped`` (accepted + rejected + skipped == records).

It also reads **Dialpad's call history** (:mod:`dialpad_nb.calls.history`): JSON or JSONL of
``CallProto`` records, saved ``call.list`` pages, the event receiver's log, and, in memory,
the frame ``client.calls()`` returns or a list of such records. The request is the routing
breadcrumb's (rebuilt from the call, with ``request_note`` saying why, when there is none),
the logged decision is the breadcrumb's target, and calls that did not come through a
router are rejected with the reason.

Decisions an analyst can rely on:

- **Nothing is lost.** accepted + rejected == records, always. A record is a line
  with anything but ASCII whitespace on it (or a CSV/Parquet row).
  Each reject keeps its file, line, raw text (<= 500 chars) and a readable reason.
- **JWTs are verified or refused.** With ``secret``, HS256 JWTs are verified exactly
  as the endpoint verifies them (:func:`dialpad_nb.core.signing.verify`: alg pinned,
  signature, ``exp``/``nbf``/``iat`` when present, ``aud``/``iss`` not checked). Without a secret they are
  *rejected* ("signed request but no secret given"), never decoded unverified:
  an unverified payload is not evidence of what Dialpad sent. :func:`read_calls` says so
  loudly: a :class:`NoSecretWarning` and a line of its summary count them and say what to pass.
- **Duplicate call_ids** (across all files read together) are rejected after the
  first, with the location of the first (``duplicates="keep"`` keeps them).
- Numbers are normalised with :func:`dialpad_nb.core.models.normalize_e164`
  (``"(415) 555-0123"`` -> ``"+14155550123"``); a number that cannot be E.164 rejects the record.
- The secret never appears in rejects, reasons, summaries or reprs.

Speed: clean lines are parsed by pyarrow in blocks and validated with
vectorised checks; a block that pyarrow refuses is bisected down to small
groups parsed line by line with the reference validator, so one bad line costs
little and the two paths agree (property-tested). JWTs go through
:mod:`dialpad_nb.calls.jwt_batch`. Files are read in chunks of ``chunksize`` lines;
:func:`iter_calls` yields one :class:`ReadResult` per chunk for logs larger than memory.
"""

from __future__ import annotations

import glob as _glob
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from ..core._caller import caller_stacklevel
from ..core.endpoint_log import log_files
from ..core.errors import SourceNotFound, ValidationError
from ..core.frames import ReadResult, empty_rejects
from ..core.wording import plural
from .columns import CALL_COLUMNS, CALL_DTYPES, PAYLOAD_FIELDS, Part, empty_calls
from .dataset import is_dataset, iter_dataset
from .decoding import DecodedFile
from .history import is_history_input, read_history, sniff_history_file
from .reader import CallReader, line_chunks

__all__ = [
    "CALL_COLUMNS",
    "CALL_DTYPES",
    "PAYLOAD_FIELDS",
    "NoSecretWarning",
    "empty_calls",
    "iter_calls",
    "read_calls",
]


class NoSecretWarning(UserWarning):
    """Signed records (JWTs) were rejected because ``read_calls`` was given no secret: the calls
    they hold are missing from the result until the router's secret is passed."""


_PROGRESS_AUTO_BYTES = 16 << 20
"""``progress=None`` shows a bar when the files to read total at least this (16 MiB)."""
_PROGRESS_CHUNK = 250_000

_LINE_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jwt", ".log", ".txt")
_TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


# --------------------------------------------------------------------------- sources


def _expand(source: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    if isinstance(source, (str, os.PathLike)):
        items = [source]
    else:
        items = list(source)
        if not items:
            raise ValidationError("an empty list of files", field="source")
    out: list[str] = []
    for item in items:
        text = os.fspath(item)
        if os.path.isdir(text):
            found = sorted(str(p) for p in Path(text).rglob("*") if p.is_file() and _is_log_name(p.name))
            if not found:
                raise SourceNotFound(f"source: no call log files in folder {text!r}")
            out += found
        elif os.path.isfile(text) or len(log_files(text)) > 1:
            out += [os.fspath(p) for p in log_files(text)]  # an endpoint log: its rotated generations too
        elif _glob.has_magic(text):
            found = sorted(p for p in _glob.glob(text, recursive=True) if os.path.isfile(p))
            if not found:
                raise SourceNotFound(f"source: no files match {text!r}")
            out += found
        else:
            raise SourceNotFound(f"source: no such file or folder {text!r}")
    return _plain_over_gzip(list(dict.fromkeys(out)))


def _plain_over_gzip(files: list[str]) -> list[str]:
    """A rotated endpoint-log generation found both plain and gzipped (caught while being
    compressed) is read once, plain."""
    listed = set(files)
    return [f for f in files if not (f.endswith(".gz") and f[:-3] in listed and _ROTATED.search(f[:-3]))]


_ROTATED = re.compile(r"\.\d{8}T\d{12}Z(?:-\d+)?(\.[^./]+)?$")


def _is_log_name(name: str) -> bool:
    name = name.lower().removesuffix(".gz")
    return name.endswith(_LINE_SUFFIXES + _TABLE_SUFFIXES)


def _file_format(path: str) -> str:
    name = path.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    return "lines"


def _with_last(items: Iterator[tuple[bytes, int]]) -> Iterator[tuple[bytes, int, bool]]:
    """``(buf, n_lines, is_last)``: one chunk of lookahead."""
    previous = None
    for item in items:
        if previous is not None:
            yield (*previous, False)
        previous = item
    if previous is not None:
        yield (*previous, True)


# --------------------------------------------------------------------------- public API


def iter_calls(
    source: Any,
    secret: str | bytes | None = None,
    *,
    chunksize: int = 1_000_000,
    default_country_code: str = "1",
    duplicates: str = "reject",
    leeway_s: float = 0,
    progress: bool | None = False,
    start: Any = None,
    end: Any = None,
    router_id: int | None = None,
) -> Iterator[ReadResult]:
    """Yield one :class:`ReadResult` per chunk of at most ``chunksize`` lines (or rows) per file.

    Memory is bounded by the chunk (plus 24 bytes per call id when ``duplicates="reject"``,
    so duplicates are caught across chunks and files). ``progress``: a tqdm bar of the bytes
    read (``None``: only when the files total 16 MiB or more).

    ``source`` may be a dataset written by :func:`~dialpad_nb.calls.dataset.ingest` (one result
    per ingested file); ``start``/``end``/``router_id`` filter a dataset's calls
    (:func:`~dialpad_nb.calls.dataset.iter_dataset`)."""
    if chunksize < 1:
        raise ValidationError(f"must be >= 1, got {chunksize!r}", field="chunksize")
    if is_dataset(source):
        yield from iter_dataset(source, start=start, end=end, router_id=router_id)
        return
    if (start, end, router_id) != (None, None, None):
        raise ValidationError("start, end and router_id filter a dataset (see ingest)", field="source")
    reader = CallReader(
        secret, default_country_code=default_country_code, duplicates=duplicates, leeway_s=leeway_s
    )
    if is_history_input(source):  # Dialpad's call history in memory (calls.history)
        yield from read_history(reader, source, chunksize=chunksize)
        return
    files = _expand(source)
    from tqdm.auto import tqdm

    sizes = [os.path.getsize(p) for p in files]
    show = progress if progress is not None else sum(sizes) >= _PROGRESS_AUTO_BYTES
    if show:  # a bar that moves: chunks of at most 250,000 lines (as fast, and less memory)
        chunksize = min(chunksize, _PROGRESS_CHUNK)
    with tqdm(total=sum(sizes), unit="B", unit_scale=True, desc="read_calls", disable=not show) as bar:
        for path, size in zip(files, sizes, strict=True):
            start = bar.n

            def moved(position: int, start: float = start, size: int = size) -> None:
                bar.update(max(start + min(position, size) - bar.n, 0))

            fmt = _file_format(path)
            if fmt == "lines" and sniff_history_file(path):  # a file of Dialpad's call history
                yield from read_history(reader, path, chunksize=chunksize)
            elif fmt == "lines":
                yield from _line_chunks(reader, path, chunksize, moved)
            elif fmt == "csv":
                yield from _csv_chunks(reader, path, chunksize)
            else:
                yield from _parquet_chunks(reader, path, chunksize)
            bar.update(start + size - bar.n)


def _line_chunks(
    reader: CallReader, path: str, chunksize: int, moved: Callable[[int], None] | None = None
) -> Iterator[ReadResult]:
    """A line file, chunk by chunk. Where a .gz stream breaks, what was read is kept and the broken
    tail (the cut line, or the unread rest) is one reject naming the file, the line and why.
    ``moved(position)`` is told how far into the file on disk each chunk reached (a progress bar)."""
    with DecodedFile(path) as f:
        first = 1
        for buf, n_lines, last in _with_last(line_chunks(f, chunksize)):
            tail = None
            if last and f.broken and not buf.endswith(b"\n"):
                buf, _, tail = buf.rpartition(b"\n")
                n_lines -= 1
            part, records = reader.lines_chunk(buf, n_lines, first) if n_lines else (Part(), 0)
            first += n_lines
            if last and f.broken:
                _reject_tail(reader, part, first, tail, f.broken)
                records += 1
                first += 1
            if moved is not None:
                moved(f.raw_position())
            yield _result(reader, part, path, records)
        if first == 1:  # an empty file still counts as read (and a broken one is one reject)
            part = Part()
            if f.broken:
                _reject_tail(reader, part, 1, None, f.broken)
            yield _result(reader, part, path, 1 if f.broken else 0)


def _reject_tail(reader: CallReader, part: Part, line: int, cut: bytes | None, why: str) -> None:
    if cut:
        reason = f"cut off: {why}; this line is incomplete and nothing after it could be read"
    else:
        reason = f"{why}; nothing from line {line} on could be read"
    reader.reject_record(part, line, cut or b"", "truncated file", reason)


def _parquet_chunks(reader: CallReader, path: str, chunksize: int) -> Iterator[ReadResult]:
    """A Parquet file; one that cannot be read (damaged, not Parquet) is one reject, and the
    row groups read before a damaged one are kept."""
    first = 1
    try:
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=chunksize):
            table = pa.Table.from_batches([batch])
            yield _result(reader, reader.table_chunk(table, first), path, table.num_rows)
            first += table.num_rows
    except (pa.ArrowException, OSError) as exc:
        part = Part()
        reader.reject_record(
            part,
            first,
            b"",
            "unreadable file",
            f"not a readable Parquet file from row {first} on ({type(exc).__name__}: {str(exc)[:200]})",
        )
        yield _result(reader, part, path, 1)
        return
    if first == 1:
        yield _result(reader, Part(), path, 0)


def _csv_chunks(reader: CallReader, path: str, chunksize: int) -> Iterator[ReadResult]:
    """A CSV file (any encoding Windows tools write: BOM, CRLF, UTF-16, Windows-1252 bytes).

    Every payload column is read as text (a value that is not a number is the row's problem,
    not the file's); ids and times are converted per chunk. A row with too few or too many
    fields is one reject; rows are numbered from 1 after the header."""
    as_text = {name: pa.string() for name in PAYLOAD_FIELDS}
    opts = pcsv.ConvertOptions(column_types=as_text, strings_can_be_null=True)
    bad_rows: list[tuple[int, str, str]] = []

    def on_bad_row(row: Any) -> str:
        got, want = row.actual_columns, row.expected_columns
        line = (row.number or 0) - 1  # the handler counts the header line
        bad_rows.append((line, row.text or "", f"a row of {got} fields where the header has {want}"))
        return "skip"

    parse = pcsv.ParseOptions(invalid_row_handler=on_bad_row)
    read = pcsv.ReadOptions(block_size=1 << 22, use_threads=False)  # single thread: rows get numbers
    with DecodedFile(path, repair=True) as f:
        try:
            rd = pcsv.open_csv(f, convert_options=opts, read_options=read, parse_options=parse)
        except pa.ArrowInvalid as exc:
            part = Part()
            empty = "Empty CSV" in str(exc)
            if not empty:
                reader.reject_record(
                    part, 1, b"", "unreadable file", f"not a readable CSV file ({str(exc)[:200]})"
                )
            yield _result(reader, part, path, 0 if empty else 1)
            return
        numbering = _RowNumbers(bad_rows)
        pending: list[pa.RecordBatch] = []
        count = 0
        done = False
        while not done:
            try:
                batch = rd.read_next_batch()
                pending.append(batch)
                count += batch.num_rows
            except StopIteration:
                done = True
            except pa.ArrowInvalid as exc:  # e.g. a quote never closed: keep what was read
                bad_rows.append(
                    (
                        numbering.next_row(count),
                        "",
                        f"the rest of the file cannot be parsed ({str(exc)[:200]})",
                    )
                )
                done = True
            if count >= chunksize or (done and (pending or bad_rows or numbering.first)):
                table = pa.Table.from_batches(pending, schema=rd.schema)
                lines = numbering.take(table.num_rows)
                part = reader.table_chunk(_csv_numbers(table), lines[0] if len(lines) else 1, lines=lines)
                flushed = numbering.flush(lines, final=done)
                for line, raw, why in flushed:
                    reader.reject_record(part, line, raw, "bad row", why)
                numbering.first = False
                yield _result(reader, part, path, table.num_rows + len(flushed))
                pending, count = [], 0
        if f.broken:
            part = Part()
            _reject_tail(reader, part, numbering.next_row(0), None, f.broken)
            yield _result(reader, part, path, 1)


class _RowNumbers:
    """Data-row numbers (1 = the first row after the header) for the rows pyarrow kept, given the
    rows its ``invalid_row_handler`` skipped (``bad``: ``(row, text, why)``, appended as it parses)."""

    def __init__(self, bad: list[tuple[int, str, str]]) -> None:
        self.bad = bad
        self.next = 1
        self.first = True
        self._flushed = 0

    def next_row(self, unnumbered: int) -> int:
        """The number of the row after the ``unnumbered`` rows read but not yet numbered."""
        return self.next + unnumbered + sum(1 for r, _, _ in self.bad[self._flushed :] if r >= self.next)

    def take(self, m: int) -> np.ndarray:
        skipped = np.array(
            sorted(r for r, _, _ in self.bad[self._flushed :] if r >= self.next), dtype=np.int64
        )
        candidates = np.arange(self.next, self.next + m + len(skipped), dtype=np.int64)
        lines = candidates[~np.isin(candidates, skipped)][:m]
        if m:
            self.next = int(lines[-1]) + 1
        return lines

    def flush(self, lines: np.ndarray, *, final: bool) -> list[tuple[int, str, str]]:
        """The skipped rows up to the last numbered one (all of them when ``final``), numbered."""
        last = int(lines[-1]) if len(lines) else self.next - 1
        out = []
        while self._flushed < len(self.bad):
            row, text, why = self.bad[self._flushed]
            if not final and row > last:
                break
            if row <= 0:  # pyarrow gave no number
                row = self.next
            out.append((row, text, why))
            self.next = max(self.next, row + 1)
            self._flushed += 1
        return out


def _csv_numbers(table: pa.Table) -> pa.Table:
    """Ids and times read as text become int64 when every value of the chunk is digits (the
    vectorised path); otherwise they stay text and each row is checked on its own."""
    for name in ("date_started", "call_id"):
        if name not in table.column_names:
            continue
        col = table.column(name)
        if not pa.types.is_string(col.type):
            continue
        digits = pc.match_substring_regex(col, r"^\s*[0-9]{1,18}\s*$")
        if col.null_count or not pc.all(digits).as_py():
            continue
        i = table.column_names.index(name)
        table = table.set_column(i, name, pc.cast(pc.utf8_trim_whitespace(col), pa.int64()))
    return table


def _result(reader: CallReader, part: Part, path: str, records: int) -> ReadResult:
    calls, rejects = reader.finish(part, path)
    return ReadResult(calls, rejects, files=(path,), records=records, skipped=dict(part.skipped))


def read_calls(
    source: Any,
    secret: str | bytes | None = None,
    *,
    chunksize: int = 1_000_000,
    default_country_code: str = "1",
    duplicates: str = "reject",
    leeway_s: float = 0,
    progress: bool | None = None,
    start: Any = None,
    end: Any = None,
    router_id: int | None = None,
) -> ReadResult:
    """Read call logs into ``(calls, rejects)``; see the module docstring for formats and rules.

    ``calls`` has :data:`CALL_COLUMNS` with :data:`CALL_DTYPES`, in file then line order.
    ``rejects`` has :data:`REJECT_COLUMNS`. ``secret`` verifies HS256 JWTs (without it,
    JWT records are rejected, and a :class:`NoSecretWarning` and a line of the summary say how
    many). ``duplicates``: ``"reject"`` (default) or ``"keep"``. ``progress``: a tqdm bar of
    the bytes read; ``None`` (default) shows it when the files total 16 MiB or more.
    A dataset (:func:`~dialpad_nb.calls.dataset.ingest`) is read with ``start <= date_started < end``
    and ``router_id`` filters; its stored rejects come back when no filter is given."""
    calls, rejects, files, records = [], [], [], 0
    skipped: dict[str, int] = {}
    for res in iter_calls(
        source,
        secret,
        chunksize=chunksize,
        default_country_code=default_country_code,
        duplicates=duplicates,
        leeway_s=leeway_s,
        progress=progress,
        start=start,
        end=end,
        router_id=router_id,
    ):
        calls.append(res.calls)
        rejects.append(res.rejects)
        files += [f for f in res.files if f not in files]
        records += res.records
        for kind, count in res.skipped.items():
            skipped[kind] = skipped.get(kind, 0) + count
    all_calls = _concat(calls, empty_calls())
    all_rejects = _concat(rejects, empty_rejects())
    notes: tuple[str, ...] = ()
    unsigned = int((all_rejects["kind"] == _NO_SECRET).sum()) if secret is None else 0
    if unsigned:
        note = (
            f"{plural(unsigned, 'signed record')} ({unsigned / records:.0%} of all) "
            f"{'was' if unsigned == 1 else 'were'} rejected because no secret was given: "
            "pass secret=<the router's secret> to verify and read them"
        )
        warnings.warn(note, NoSecretWarning, stacklevel=caller_stacklevel())
        notes = (note,)
    return ReadResult(
        all_calls, all_rejects, files=tuple(files), records=records, skipped=skipped, notes=notes
    )


_NO_SECRET = "no secret"
"""The reject kind of a signed record read without a secret (see :mod:`.reader`)."""


def _concat(frames: list[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True)
