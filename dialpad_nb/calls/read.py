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
fields. ``source`` is a file, a folder, a glob, or a list of them.

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
import gzip
import io
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from ..core._caller import caller_stacklevel
from ..core.errors import SourceNotFound, ValidationError
from ..core.frames import ReadResult, empty_rejects
from ..core.wording import plural
from .columns import CALL_COLUMNS, CALL_DTYPES, PAYLOAD_FIELDS, Part, empty_calls
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
        elif os.path.isfile(text):
            out.append(text)
        elif _glob.has_magic(text):
            found = sorted(p for p in _glob.glob(text, recursive=True) if os.path.isfile(p))
            if not found:
                raise SourceNotFound(f"source: no files match {text!r}")
            out += found
        else:
            raise SourceNotFound(f"source: no such file or folder {text!r}")
    return list(dict.fromkeys(out))


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


def _open_binary(path: str) -> io.BufferedIOBase:
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


# --------------------------------------------------------------------------- public API


def iter_calls(
    source: str | os.PathLike | Iterable[str | os.PathLike],
    secret: str | bytes | None = None,
    *,
    chunksize: int = 1_000_000,
    default_country_code: str = "1",
    duplicates: str = "reject",
    leeway_s: float = 0,
    progress: bool | None = False,
) -> Iterator[ReadResult]:
    """Yield one :class:`ReadResult` per chunk of at most ``chunksize`` lines (or rows) per file.

    Memory is bounded by the chunk (plus 24 bytes per call id when ``duplicates="reject"``,
    so duplicates are caught across chunks and files). ``progress``: a tqdm bar of the bytes
    read (``None``: only when the files total 16 MiB or more)."""
    if chunksize < 1:
        raise ValidationError(f"must be >= 1, got {chunksize!r}", field="chunksize")
    files = _expand(source)
    reader = CallReader(
        secret, default_country_code=default_country_code, duplicates=duplicates, leeway_s=leeway_s
    )
    from tqdm.auto import tqdm

    sizes = [os.path.getsize(p) for p in files]
    show = progress if progress is not None else sum(sizes) >= _PROGRESS_AUTO_BYTES
    if show:  # a bar that moves: chunks of at most 250,000 lines (as fast, and less memory)
        chunksize = min(chunksize, _PROGRESS_CHUNK)
    with tqdm(total=sum(sizes), unit="B", unit_scale=True, desc="read_calls", disable=not show) as bar:
        for path, size in zip(files, sizes, strict=True):
            start = bar.n
            fmt = _file_format(path)
            if fmt == "lines":
                with _open_binary(path) as f:
                    first = 1
                    for buf, n_lines in line_chunks(f, chunksize):
                        part, records = reader.lines_chunk(buf, n_lines, first)
                        first += n_lines
                        bar.update(max(start + min(_raw_position(f), size) - bar.n, 0))
                        yield _result(reader, part, path, records)
                    if first == 1:  # an empty file still counts as read
                        yield _result(reader, Part(), path, 0)
            elif fmt == "csv":
                yield from _csv_chunks(reader, path, chunksize)
            else:
                pf = pq.ParquetFile(path)
                first = 1
                for batch in pf.iter_batches(batch_size=chunksize):
                    table = pa.Table.from_batches([batch])
                    yield _result(reader, reader.table_chunk(table, first), path, table.num_rows)
                    first += table.num_rows
                if first == 1:
                    yield _result(reader, Part(), path, 0)
            bar.update(start + size - bar.n)


def _raw_position(f: io.BufferedIOBase) -> int:
    """How far into the file on disk a reader is (for a gzip file: the compressed bytes)."""
    raw = getattr(f, "fileobj", None) or f
    try:
        return int(raw.tell())
    except (OSError, ValueError):
        return 0


def _csv_chunks(reader: CallReader, path: str, chunksize: int) -> Iterator[ReadResult]:
    as_text = {
        name: pa.string() for name in ("external_number", "internal_number", "contact_id", "contact_type")
    }
    opts = pcsv.ConvertOptions(column_types=as_text, strings_can_be_null=True)
    with _open_binary(path) as f:
        rd = pcsv.open_csv(f, convert_options=opts, read_options=pcsv.ReadOptions(block_size=1 << 22))
        first = 1
        pending: list[pa.RecordBatch] = []
        count = 0
        for batch in rd:
            pending.append(batch)
            count += batch.num_rows
            if count >= chunksize:
                table = pa.Table.from_batches(pending)
                yield _result(reader, reader.table_chunk(table, first), path, table.num_rows)
                first += table.num_rows
                pending, count = [], 0
        if pending or first == 1:
            table = pa.Table.from_batches(pending, schema=rd.schema)
            yield _result(reader, reader.table_chunk(table, first), path, table.num_rows)


def _result(reader: CallReader, part: Part, path: str, records: int) -> ReadResult:
    calls, rejects = reader.finish(part, path)
    return ReadResult(calls, rejects, files=(path,), records=records)


def read_calls(
    source: str | os.PathLike | Iterable[str | os.PathLike],
    secret: str | bytes | None = None,
    *,
    chunksize: int = 1_000_000,
    default_country_code: str = "1",
    duplicates: str = "reject",
    leeway_s: float = 0,
    progress: bool | None = None,
) -> ReadResult:
    """Read call logs into ``(calls, rejects)``; see the module docstring for formats and rules.

    ``calls`` has :data:`CALL_COLUMNS` with :data:`CALL_DTYPES`, in file then line order.
    ``rejects`` has :data:`REJECT_COLUMNS`. ``secret`` verifies HS256 JWTs (without it,
    JWT records are rejected, and a :class:`NoSecretWarning` and a line of the summary say how
    many). ``duplicates``: ``"reject"`` (default) or ``"keep"``. ``progress``: a tqdm bar of
    the bytes read; ``None`` (default) shows it when the files total 16 MiB or more."""
    calls, rejects, files, records = [], [], [], 0
    for res in iter_calls(
        source,
        secret,
        chunksize=chunksize,
        default_country_code=default_country_code,
        duplicates=duplicates,
        leeway_s=leeway_s,
        progress=progress,
    ):
        calls.append(res.calls)
        rejects.append(res.rejects)
        files += [f for f in res.files if f not in files]
        records += res.records
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
    return ReadResult(all_calls, all_rejects, files=tuple(files), records=records, notes=notes)


_NO_SECRET = "no secret"
"""The reject kind of a signed record read without a secret (see :mod:`.reader`)."""


def _concat(frames: list[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True)
