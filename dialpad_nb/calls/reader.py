"""How call-log lines become rows: the per-record reference check and the fast paths.

:class:`CallReader` reads one chunk at a time (``lines_chunk`` for line files,
``table_chunk`` for CSV/Parquet) into a :class:`~dialpad_nb.calls.columns.Part`:

- the **reference path** (``json_lines`` -> ``record_line`` -> ``validate_payload``)
  decodes one line with ``json.loads`` and checks it field by field; it defines every
  accept/reject and every reason;
- the **vectorised path** parses blocks with pyarrow and checks columns at once
  (``vector_payloads``, ``vector_log``); a block it does not take (parse error, odd
  types, mixed record kinds) goes back through smaller blocks to the reference path,
  so both give the same frame (property-tested in ``tests/test_calls.py``);
- JWT lines go through :func:`dialpad_nb.calls.jwt_batch.verify_tokens`.

It also rejects duplicate ``call_id`` s across chunks and files.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from ..core.clock import MAX_MS, MIN_MS, to_ms
from ..core.endpoint_log import (
    EVENT_KINDS,
    READ_VERSIONS,
    BadLogRecord,
    LogEvent,
    check_record,
    logged_error,
)
from ..core.errors import ValidationError
from ..core.frames import RAW_LIMIT, empty_rejects, rejects_frame
from ..core.models import E164_PATTERN, normalize_e164
from .columns import PAYLOAD_FIELDS, Part, calls_frame
from .jwt_batch import CLAIMS, TokenBatch, check_secret, verify_tokens
from .scan import byte_positions, line_spans

__all__ = ["CallReader", "line_chunks"]

_SMALL = 32  # blocks at most this long are parsed line by line
_GROUP = 4096  # a failing block longer than this is retried in groups of this many lines
_WORKERS = 2
_B64URL_FIRST = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_TOKEN_CHARS = bytes(sorted(_B64URL_FIRST)) + b"."
_TOKEN_CHARS_NL = _TOKEN_CHARS + b"\n"


class _Bad(NamedTuple):
    """Why the reference check refused a record: ``kind`` (for counting) and ``reason`` (for people)."""

    kind: str
    reason: str


class CallReader:
    """Reads chunks of one or more files with shared state (secret, duplicate ids, caches)."""

    def __init__(
        self,
        secret: str | bytes | None,
        *,
        default_country_code: str,
        duplicates: str,
        leeway_s: float,
    ) -> None:
        if duplicates not in ("reject", "keep"):
            raise ValidationError(f"expected 'reject' or 'keep', got {duplicates!r}", field="duplicates")
        self.key = None if secret is None else check_secret(secret)
        self._secret_text = (
            None
            if secret is None
            else (secret if isinstance(secret, str) else secret.decode("utf-8", "replace"))
        )
        self.cc = default_country_code
        self.duplicates = duplicates
        self.leeway_s = leeway_s
        self.seen_ids = np.empty(0, dtype=np.int64)
        self.seen_src = np.empty(0, dtype=np.int64)
        self.seen_line = np.empty(0, dtype=np.int64)
        self.sources: list[str] = []
        self._norm_cache: dict[str, str | None] = {}

    # ----------------------------------------------------------------- helpers

    def _scrub(self, text: str) -> str:
        if self._secret_text and self._secret_text in text:
            text = text.replace(self._secret_text, "***")
        return text

    def _normalize(self, value: str) -> str | None:
        try:
            return self._norm_cache[value]
        except KeyError:
            if len(self._norm_cache) > 100_000:  # keep memory bounded on huge logs
                self._norm_cache.clear()
            out = self._norm_cache[value] = normalize_e164(value, default_country_code=self.cc)
            return out

    # ----------------------------------------------------------------- per-record reference

    def _validate_payload(self, obj: Any) -> tuple | _Bad:
        """The reference check of one payload: a 6-tuple of typed values, or why not (:class:`_Bad`)."""
        if not isinstance(obj, dict):
            return _Bad("bad record", f"payload is not a JSON object (got {_json_type(obj)})")
        ds = obj.get("date_started")
        if ds is None or ds == "":
            return _Bad("bad record", "date_started is required")
        ms = _to_ms(ds)
        if ms is None:
            return _Bad("bad record", f"date_started {ds!r} is not milliseconds since the epoch")
        if not MIN_MS <= ms <= MAX_MS:
            return _Bad("bad record", f"date_started {ms} is outside the years 1970-9999")
        cid = obj.get("call_id")
        if cid is None or cid == "":
            return _Bad("bad record", "call_id is required")
        if isinstance(cid, str) and cid.strip().isdigit():
            cid_v = int(cid.strip())
        elif isinstance(cid, int) and not isinstance(cid, bool):
            cid_v = cid
        else:
            return _Bad("bad record", f"call_id {cid!r} is not an integer id")
        if not 0 < cid_v < 2**63:
            return _Bad("bad record", f"call_id {cid_v} is not a positive 64-bit id")
        numbers = []
        for name in ("external_number", "internal_number"):
            v = obj.get(name)
            if v is None or v == "":
                return _Bad("bad record", f"{name} is required")
            norm = self._normalize(str(v)) if isinstance(v, (str, int)) and not isinstance(v, bool) else None
            if norm is None:
                return _Bad("bad number", f"{name} {v!r} is not E.164")
            numbers.append(norm)
        contact_id = obj.get("contact_id")
        if contact_id is None or contact_id == "":
            contact_id = None
        elif isinstance(contact_id, int) and not isinstance(contact_id, bool):
            contact_id = str(contact_id)
        elif not isinstance(contact_id, str):
            return _Bad("bad record", f"contact_id {contact_id!r} is not an id")
        contact_type = obj.get("contact_type")
        if contact_type is None or contact_type == "":
            contact_type = None
        elif not isinstance(contact_type, str):
            return _Bad("bad record", f"contact_type {contact_type!r} is not text")
        return (ms, cid_v, numbers[0], numbers[1], contact_id, contact_type)

    def _record_line(self, part: Part, line: int, src_raw: bytes, obj: Any, *, in_jwt: bool) -> None:
        """Classify and validate one decoded JSON line (reference path)."""
        signed = in_jwt
        logged: tuple[int | None, str | None, str | None] = (None, None, None)
        if not in_jwt and isinstance(obj, dict):
            if "v" in obj:
                try:
                    rec = check_record(obj, need_payload=True)
                except BadLogRecord as exc:
                    return self._reject(part, line, src_raw, exc.kind, str(exc))
                if isinstance(rec, LogEvent):  # not a request: skipped, counted
                    part.skipped[rec.event] = part.skipped.get(rec.event, 0) + 1
                    return None
                tid, ttype = rec.decision if rec.decision is not None else (None, None)
                logged = (tid, ttype, rec.rule)
                signed = rec.signed
                obj = rec.payload
            elif "token" in obj or "jwt" in obj:
                tok = obj.get("token", obj.get("jwt"))
                if not isinstance(tok, str):
                    return self._reject(part, line, src_raw, "bad JWT", f"token {tok!r} is not text")
                return self._jwt_lines(part, [line], [src_raw], [tok.encode("utf-8", "surrogateescape")])
        row = self._validate_payload(obj)
        if isinstance(row, _Bad):
            return self._reject(part, line, src_raw, row.kind, row.reason)
        self._accept(part, line, row, logged, signed)

    def _accept(self, part: Part, line: int, row: tuple, logged: tuple, signed: bool) -> None:
        c = part.cols
        for name, v in zip(PAYLOAD_FIELDS, row, strict=True):
            c[name].append(v)
        c["logged_target_id"].append(logged[0])
        c["logged_target_type"].append(logged[1])
        c["logged_rule"].append(logged[2])
        c["signed"].append(signed)
        c["line"].append(line)

    def reject_record(self, part: Part, line: int, raw: bytes | str, kind: str, reason: str) -> None:
        """Refuse one record found outside the line parser (a truncated file's tail, a short CSV row)."""
        self._reject(part, line, raw, kind, reason)

    def _reject_many(self, part: Part, lines: list[int], raws: list[bytes], kind: str, reason: str) -> None:
        """Refuse many records for one reason at once (columns, not tuples): garbage costs what good
        lines cost. ``raws`` must be ASCII."""
        if len(lines) < _SMALL:
            for line, raw in zip(lines, raws, strict=True):
                self._reject(part, line, raw, kind, reason)
            return
        raw_arr = pc.utf8_slice_codeunits(pa.array(raws, pa.binary()).cast(pa.string()), 0, RAW_LIMIT * 2)
        if self._secret_text:
            raw_arr = pc.replace_substring(raw_arr, self._secret_text, "***")
        raw_arr = pc.utf8_slice_codeunits(raw_arr, 0, RAW_LIMIT)
        line_arr = np.asarray(lines, dtype=np.int64)
        reasons = pc.binary_join_element_wise(
            "line ", pc.cast(pa.array(line_arr), pa.string()), ": " + self._scrub(reason), ""
        )
        part.reject_blocks.append((line_arr, raw_arr, reasons, kind))

    def _reject(self, part: Part, line: int, raw: bytes | str, kind: str, reason: str) -> None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        # scrub before cutting: a secret straddling the cut would otherwise leave its first characters
        part.rejects.append(
            (line, self._scrub(text)[:RAW_LIMIT], self._scrub(f"line {line}: {reason}"), kind)
        )

    # ----------------------------------------------------------------- line files

    def lines_chunk(self, buf: bytes, n_lines: int, first_line: int) -> tuple[Part, int]:
        """Read one chunk of ``n_lines`` lines; returns the part and its record count."""
        part = Part()
        newlines = _object_lines(buf, n_lines)
        if newlines is not None:
            # every line starts with '{': one pyarrow parse; each line yields at least one row,
            # so equal counts mean one each
            table = _arrow_buf(buf, newlines)
            if table is not None and self._table_block(
                part, table, np.arange(first_line, first_line + n_lines), _LazyLines(buf),
                in_jwt=False,
            ):  # fmt: skip
                return part, n_lines
            part = Part()
        lines = buf.split(b"\n")
        if buf.endswith(b"\n"):
            lines.pop()
        if not buf.translate(None, _TOKEN_CHARS_NL) and not buf.startswith(b"\n") and b"\n\n" not in buf:
            # only base64url characters, dots and single newlines: nothing to strip, no blank line
            self._jwt_lines(
                part, list(range(first_line, first_line + len(lines))), lines, lines, unclassified=True
            )
            return part, len(lines)
        kinds = _line_kinds(buf)
        records = 0
        json_groups: dict[str, list[int]] = {"log": [], "wrapped": [], "plain": []}
        tok_idx: list[int] = []
        junk: list[int] = []
        bad_objects: list[int] = []
        plain, log, wrapped = json_groups["plain"], json_groups["log"], json_groups["wrapped"]
        todo: Sequence[int]
        if kinds is None:  # a blank line, or one to strip: every line through the loop below
            stripped = [ln.strip() for ln in lines]
            if b"{" not in buf and not b"".join(stripped).translate(None, _TOKEN_CHARS):
                # only base64url characters and dots: skip the classifying loop below
                idx = [i for i, s in enumerate(stripped) if s]
                toks = [stripped[i] for i in idx]
                self._jwt_lines(part, [first_line + i for i in idx], toks, toks, unclassified=True)
                return part, len(idx)
            todo = range(len(stripped))
        else:  # the usual payloads and token-shaped lines sorted at once; the loop takes the rest
            stripped = lines
            plain += np.flatnonzero(kinds == _PAYLOAD).tolist()
            tok_idx += np.flatnonzero(kinds == _TOKEN).tolist()
            records = len(plain) + len(tok_idx)
            todo = np.flatnonzero(kinds == _OTHER).tolist()
        for i in todo:
            s = stripped[i]
            head = s[:3]
            if head == b'{"d':  # the usual payload ("date_started" first)
                plain.append(i)
            elif head[:1] == b"{":
                if _plainly_bad_object(s):
                    bad_objects.append(i)
                elif s.startswith(b'{"v"'):
                    log.append(i)
                elif s.startswith((b'{"token"', b'{"jwt"')):
                    wrapped.append(i)
                else:
                    plain.append(i)
            elif not head:
                continue
            elif _jwt_shaped(s):
                tok_idx.append(i)
            elif _plainly_not_json(s):
                junk.append(i)
            else:
                self._reject(part, first_line + i, s, "bad JSON", _not_json(s))
            records += 1
        if kinds is not None:  # two sorted runs each: in line order again
            plain.sort()
            tok_idx.sort()
        if bad_objects:
            self._reject_many(
                part, [first_line + i for i in bad_objects], [stripped[i] for i in bad_objects], "bad JSON",
                _BAD_OBJECT_COL2,
            )  # fmt: skip
        if junk:
            self._reject_many(
                part, [first_line + i for i in junk], [stripped[i] for i in junk], "bad JSON", _NOT_JSON_COL1
            )
        for idx in json_groups.values():
            if idx:
                self._json_block(
                    part, [first_line + i for i in idx], [stripped[i] for i in idx], in_jwt=False
                )
        if tok_idx:
            toks = [stripped[i] for i in tok_idx]
            self._jwt_lines(part, [first_line + i for i in tok_idx], toks, toks)
        return part, records

    def _json_block(
        self,
        part: Part,
        lines: list[int],
        texts: list[bytes],
        *,
        in_jwt: bool,
        raws: list[bytes] | None = None,
        batch: TokenBatch | None = None,
        batch_idx: list[int] | None = None,
        parsed: bool = True,
    ) -> None:
        """Parse JSON texts (one object each); fast when pyarrow takes the block, else bisect.

        ``parsed=False``: the caller already tried this block with pyarrow (and it failed)."""
        raws = texts if raws is None else raws
        if len(texts) > _SMALL:
            table = _arrow_lines(texts) if parsed else None
            claims = in_jwt and table is not None and not CLAIMS.isdisjoint(table.column_names)
            if (
                table is not None
                and not claims
                and self._table_block(part, table, lines, raws, in_jwt=in_jwt)
            ):
                return
            if claims:  # registered claims are PyJWT's to judge: line by line
                return self._json_lines(
                    part, lines, texts, raws, in_jwt=in_jwt, batch=batch, batch_idx=batch_idx
                )
            if len(texts) > _GROUP:
                # a big block that failed: parse fixed groups (in parallel; pyarrow releases the GIL),
                # so a few bad lines cost about one more parse, not one per bad line
                slices = [slice(k, k + _GROUP) for k in range(0, len(texts), _GROUP)]

                def parse(sl: slice) -> pa.Table | None:
                    return _arrow_lines(texts[sl])

                with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
                    tables = list(pool.map(parse, slices))
                for sl, table in zip(slices, tables, strict=True):
                    sub_idx = None if batch_idx is None else batch_idx[sl]
                    if table is not None and (not in_jwt or CLAIMS.isdisjoint(table.column_names)):
                        if self._table_block(part, table, lines[sl], raws[sl], in_jwt=in_jwt):
                            continue
                    self._json_block(
                        part, lines[sl], texts[sl], in_jwt=in_jwt, raws=raws[sl], batch=batch, batch_idx=sub_idx,
                        parsed=False,
                    )  # fmt: skip
                return
            # then halves of a failing group, down to _SMALL lines
            mid = len(texts) // 2
            for sl in (slice(0, mid), slice(mid, None)):
                self._json_block(
                    part, lines[sl], texts[sl], in_jwt=in_jwt, raws=raws[sl], batch=batch,
                    batch_idx=None if batch_idx is None else batch_idx[sl],
                )  # fmt: skip
            return
        self._json_lines(part, lines, texts, raws, in_jwt=in_jwt, batch=batch, batch_idx=batch_idx)

    def _json_lines(
        self,
        part: Part,
        lines: Any,
        texts: list[bytes],
        raws: Any,
        *,
        in_jwt: bool,
        batch: TokenBatch | None,
        batch_idx: list[int] | None,
    ) -> None:
        """The reference path: one ``json.loads`` per line."""
        for k, (line, text) in enumerate(zip(lines, texts, strict=True)):
            raw = raws[k]
            obj = _loads(text)
            if (
                in_jwt
                and batch is not None
                and (isinstance(obj, Exception) or not isinstance(obj, dict) or not CLAIMS.isdisjoint(obj))
            ):
                assert batch_idx is not None  # given with every batch
                verdict = batch.resolve(batch_idx[k])
                if isinstance(verdict, dict):
                    obj = verdict
                else:
                    self._reject(part, line, raw, verdict[0], verdict[1])
                    continue
            if isinstance(obj, Exception):
                self._reject(part, line, raw, "bad JSON", f"not JSON: {_json_error(obj)}")
                continue
            if not in_jwt and not isinstance(obj, dict):
                self._reject(part, line, raw, "bad JSON", f"not a JSON object (got {_json_type(obj)})")
                continue
            self._record_line(part, line, raw, obj, in_jwt=in_jwt)

    def _table_block(self, part: Part, table: pa.Table, lines: Any, raws: Any, *, in_jwt: bool) -> bool:
        """Vectorised handling of a parsed block; False if it is not a shape the fast path takes."""
        if table.num_rows != len(lines):
            return False
        names = set(table.column_names)
        if in_jwt or not names & {"v", "token", "jwt"}:
            return self._vector_payloads(part, _columns(table), lines, raws, signed=in_jwt)
        if names == {"token"} or names == {"jwt"}:
            col = table.column(0)
            if col.type != pa.string() or col.null_count:
                return False
            toks = [t.encode("utf-8") for t in col.to_pylist()]
            self._jwt_lines(part, lines, raws, toks)
            return True
        if "v" in names and not names & {"token", "jwt"}:
            return self._vector_log(part, table, lines, raws)
        return False

    def _vector_log(self, part: Part, table: pa.Table, lines: list[int], raws: list[bytes]) -> bool:
        v = table.column("v")
        if (
            not pa.types.is_integer(v.type)
            or v.null_count
            or not pc.all(pc.is_in(v, value_set=pa.array(READ_VERSIONS, pa.int64()))).as_py()
        ):
            return False
        if "event" in table.column_names:  # event records (reloads) are skipped and counted
            event = table.column("event")
            if pa.types.is_null(event.type):
                table = table.drop_columns(["event"])
            elif not pa.types.is_string(event.type):
                return False
            else:
                named = pc.is_valid(event)
                known = pc.is_in(pc.drop_null(event), value_set=pa.array(EVENT_KINDS, pa.string()))
                if not pc.all(known).as_py():
                    return False  # an unknown event: the reference path names it
                keep_rows = np.flatnonzero(~np.asarray(named, dtype=bool))
                if len(keep_rows):
                    rows = keep_rows.tolist()
                    kept = table.take(pa.array(keep_rows)).drop_columns(["event"])
                    if not self._vector_log(part, kept, [lines[i] for i in rows], [raws[i] for i in rows]):
                        return False  # the reference path takes the whole block, events included
                for item in pc.value_counts(pc.drop_null(event)).to_pylist():
                    part.skipped[item["values"]] = part.skipped.get(item["values"], 0) + item["counts"]
                return True
        names = table.column_names
        payload = table.column("payload") if "payload" in names else pa.nulls(table.num_rows)
        if not (pa.types.is_struct(payload.type) or pa.types.is_null(payload.type)):
            return False
        decision = table.column("decision") if "decision" in names else None
        logged_id = logged_type = None
        if decision is not None and not pa.types.is_null(decision.type):
            if not pa.types.is_struct(decision.type):
                return False
            fields = {f.name: f.type for f in decision.type}
            if not set(fields) <= {"target_id", "target_type"}:
                return False
            flat = pa.concat_arrays(decision.chunks) if decision.num_chunks != 1 else decision.chunk(0)
            if "target_id" not in fields or "target_type" not in fields:
                return False
            if not pa.types.is_int64(fields["target_id"]) or not pa.types.is_string(fields["target_type"]):
                return False
            present = flat.is_valid()
            logged_id = flat.field("target_id")
            logged_type = flat.field("target_type")
            ok = pc.and_(pc.greater(logged_id, 0), pc.greater(pc.utf8_length(logged_type), 0))
            # a decision object must carry both fields, well formed
            if not pc.all(pc.or_(pc.invert(present), pc.fill_null(ok, False))).as_py():
                return False
            logged_id = pc.if_else(present, logged_id, None)
            logged_type = pc.if_else(present, logged_type, None)
        rule = table.column("rule") if "rule" in names else None
        if rule is not None and not (pa.types.is_string(rule.type) or pa.types.is_null(rule.type)):
            return False
        signed = table.column("signed") if "signed" in names else None
        if signed is not None and not (pa.types.is_boolean(signed.type) or pa.types.is_null(signed.type)):
            return False
        has_payload = np.asarray(pc.is_valid(payload), dtype=bool)
        missing = np.flatnonzero(~has_payload)
        if len(missing):
            extra = table.select([c for c in ("outcome", "status", "error") if c in names])
            for i in missing.tolist():
                rec = {k: extra.column(k)[i].as_py() for k in extra.column_names}
                self._reject(part, lines[i], raws[i], "logged error", logged_error(rec))
        keep = np.flatnonzero(has_payload)
        if not len(keep):
            return True
        if pa.types.is_null(payload.type):  # pragma: no cover - no payload at all handled above
            return True
        flat = pa.concat_arrays(payload.chunks) if payload.num_chunks != 1 else payload.chunk(0)
        cols = {f.name: flat.field(i) for i, f in enumerate(flat.type)}
        keep_arr = pa.array(keep)
        cols = {k: pc.take(a, keep_arr) for k, a in cols.items()}
        extra_cols = {
            "logged_target_id": None if logged_id is None else pc.take(logged_id, keep_arr),
            "logged_target_type": None if logged_type is None else pc.take(logged_type, keep_arr),
            "logged_rule": None if rule is None else pc.take(rule, keep_arr),
            "signed": None if signed is None else pc.fill_null(pc.take(signed, keep_arr), False),
        }
        sub_lines = [lines[i] for i in keep.tolist()]
        sub_raws = [raws[i] for i in keep.tolist()]
        ok = self._vector_payloads(part, cols, sub_lines, sub_raws, signed=False, logged=extra_cols)
        if not ok:
            # payload shapes the fast path does not take: the reference path for these records
            for i in keep.tolist():
                obj = json.loads(raws[i])
                self._record_line(part, lines[i], raws[i], obj, in_jwt=False)
        return True

    def _vector_payloads(
        self,
        part: Part,
        cols: dict[str, Any],
        lines: list[int],
        raws: list[bytes],
        *,
        signed: bool,
        logged: dict[str, Any] | None = None,
    ) -> bool:
        """Validate payload columns vectorised; False (nothing recorded) if a type is unusual."""
        n = len(lines)
        ds, cid = cols.get("date_started"), cols.get("call_id")
        ext, inn = cols.get("external_number"), cols.get("internal_number")
        contact_id, contact_type = cols.get("contact_id"), cols.get("contact_type")
        if ds is None or cid is None or ext is None or inn is None:
            return False
        if pa.types.is_timestamp(ds.type):
            ds = pc.cast(pc.cast(ds, pa.timestamp("ms", tz="UTC")), pa.int64())
        if not (pa.types.is_int64(ds.type) and pa.types.is_int64(cid.type)):
            return False
        if not (_is_str(ext.type) and _is_str(inn.type)):
            return False
        if contact_id is not None and not (_is_str(contact_id.type) or pa.types.is_int64(contact_id.type)):
            return False
        if contact_type is not None and not _is_str(contact_type.type):
            return False
        if ds.null_count or cid.null_count or ext.null_count or inn.null_count:
            return False
        ds_np = _np(ds)
        cid_np = _np(cid)
        bad = (ds_np < MIN_MS) | (ds_np > MAX_MS) | (cid_np <= 0)
        ext_s = _str_col(ext)
        inn_s = _str_col(inn)
        nums = []
        for arr in (ext_s, inn_s):
            if pa.types.is_null(arr.type):
                return False
            ok = np.asarray(pc.fill_null(pc.match_substring_regex(arr, E164_PATTERN), False), dtype=bool)
            if not ok.all():
                # normalise the few that are not already E.164 (the reference does the same per value)
                values = arr.to_pylist()
                fixed = [
                    v if k else self._normalize(v) if v != "" else None
                    for v, k in zip(values, ok, strict=True)
                ]
                arr = pa.array(fixed, pa.string())
            nums.append(arr)
        bad |= np.asarray(pc.is_null(nums[0]), dtype=bool) | np.asarray(pc.is_null(nums[1]), dtype=bool)
        if contact_id is None:
            cid_s = pa.nulls(n, pa.string())
        else:
            cid_s = _str_col(contact_id) if _is_str(contact_id.type) else pc.cast(contact_id, pa.string())
            cid_s = pc.if_else(pc.equal(cid_s, ""), pa.scalar(None, pa.string()), cid_s)
        if contact_type is None:
            ctype_s = pa.nulls(n, pa.string())
        else:
            ctype_s = _str_col(contact_type)
            if pa.types.is_null(ctype_s.type):
                ctype_s = pa.nulls(n, pa.string())
            ctype_s = pc.if_else(pc.equal(ctype_s, ""), pa.scalar(None, pa.string()), ctype_s)
        if bad.any():
            # build exact reasons with the reference validator for the few bad rows
            bad_idx = np.flatnonzero(bad)
            ds_l, cid_l = ds_np[bad_idx].tolist(), cid_np[bad_idx].tolist()
            ext_l = pc.take(ext_s, pa.array(bad_idx)).to_pylist()
            inn_l = pc.take(inn_s, pa.array(bad_idx)).to_pylist()
            for k, i in enumerate(bad_idx.tolist()):
                row = self._validate_payload(
                    {"date_started": ds_l[k], "call_id": cid_l[k], "external_number": ext_l[k],
                     "internal_number": inn_l[k]}
                )  # fmt: skip
                if not isinstance(
                    row, _Bad
                ):  # pragma: no cover - the vector check and the reference disagree
                    raise AssertionError(f"vector check rejected line {lines[i]} the reference accepts")
                self._reject(part, lines[i], raws[i], row.kind, row.reason)
            good = np.flatnonzero(~bad)
            take = pa.array(good)
            ds_np, cid_np = ds_np[good], cid_np[good]
            nums = [pc.take(a, take) for a in nums]
            cid_s, ctype_s = pc.take(cid_s, take), pc.take(ctype_s, take)
            lines_arr = np.asarray(lines, dtype=np.int64)[good]
            if logged is not None:
                logged = {k: None if a is None else pc.take(a, take) for k, a in logged.items()}
        else:
            lines_arr = np.asarray(lines, dtype=np.int64)
        c = part.cols
        c["date_started"].append(ds_np)
        c["call_id"].append(cid_np)
        c["external_number"].append(nums[0])
        c["internal_number"].append(nums[1])
        c["contact_id"].append(cid_s)
        c["contact_type"].append(ctype_s)
        m = len(lines_arr)
        logged = logged or {}
        c["logged_target_id"].append(logged.get("logged_target_id") or pa.nulls(m, pa.int64()))
        c["logged_target_type"].append(logged.get("logged_target_type") or pa.nulls(m, pa.string()))
        rule = logged.get("logged_rule")
        c["logged_rule"].append(pa.nulls(m, pa.string()) if rule is None else pc.cast(rule, pa.string()))
        sg = logged.get("signed")
        if sg is not None and sg.null_count:  # unknown (call history): kept as missing
            c["signed"].append(np.array(pc.cast(sg, pa.bool_()).to_pylist(), dtype=object))
        else:
            c["signed"].append(
                np.full(m, signed) if sg is None else np.asarray(pc.cast(sg, pa.bool_()), dtype=bool)
            )
        for extra in ("router_id", "request_note"):  # call history's columns (calls.history)
            if logged.get(extra) is not None:
                c[extra].append(logged[extra])
        c["line"].append(lines_arr)
        return True

    # ----------------------------------------------------------------- JWTs

    def _jwt_lines(
        self,
        part: Part,
        lines: list[int],
        raws: list[bytes],
        tokens: list[bytes],
        *,
        unclassified: bool = False,
    ) -> None:
        """Verify token lines. ``unclassified``: the lines were not checked to look like a JWT
        (two dots, not starting with one); those that do not are rejected as the line
        classifier would have rejected them, so every chunking gives the same reasons."""
        if self.key is None:
            groups: dict[tuple[str, str], tuple[list[int], list[bytes]]] = {}
            for k, (line, tok) in enumerate(zip(lines, tokens, strict=True)):
                raw = raws[k]  # raws may be a lazy view of the chunk: index, don't iterate
                if unclassified and not _jwt_shaped(tok):
                    why = (
                        ("bad JSON", _NOT_JSON_COL1)
                        if _plainly_not_json(tok)
                        else ("bad JSON", _not_json(tok))
                    )
                else:
                    why = ("no secret", "signed request (JWT) but no secret given: pass secret= to verify it")
                if why[1] is _NOT_JSON_COL1 or why[0] == "no secret":
                    group = groups.setdefault(why, ([], []))
                    group[0].append(line)
                    group[1].append(raw)
                else:
                    self._reject(part, line, raw, *why)
            for (kind, reason), (group_lines, group_raws) in groups.items():
                if all(r.isascii() for r in group_raws):
                    self._reject_many(part, group_lines, group_raws, kind, reason)
                else:
                    for line, raw in zip(group_lines, group_raws, strict=True):
                        self._reject(part, line, raw, kind, reason)
            return
        batch = verify_tokens(tokens, self.key, leeway_s=self.leeway_s, charset_checked=unclassified)
        for i, (kind, reason) in batch.errors.items():
            if unclassified and not _jwt_shaped(tokens[i]):  # PyJWT refuses every one of these
                kind, reason = "bad JSON", _not_json(tokens[i])
            self._reject(part, lines[i], raws[i], kind, reason)
        for i, payload in batch.decoded.items():
            self._record_line(part, lines[i], raws[i], payload, in_jwt=True)
        if batch.fast_index:
            fi = batch.fast_index
            self._json_block(
                part, [lines[i] for i in fi], batch.fast_json, in_jwt=True, raws=[raws[i] for i in fi],
                batch=batch, batch_idx=fi,
            )  # fmt: skip

    # ----------------------------------------------------------------- tables (CSV, Parquet)

    def table_chunk(self, table: pa.Table, first_row: int, *, lines: Any = None) -> Part:
        """Rows of a CSV/Parquet chunk, numbered from ``first_row`` (or by ``lines``, when some
        rows were skipped)."""
        part = Part()
        n = table.num_rows
        lines = list(range(first_row, first_row + n)) if lines is None else [int(x) for x in lines]
        cols = _columns(table)
        if n and self._vector_payloads(part, cols, lines, [b""] * n, signed=False):
            if part.rejects:  # give rejects their real row text
                by_line = {r[0]: k for k, r in enumerate(part.rejects)}
                index = {line: k for k, line in enumerate(lines)}
                rows = table.take(pa.array([index[r[0]] for r in part.rejects])).to_pylist()
                for (line, _raw, reason, kind), row in zip(list(part.rejects), rows, strict=True):
                    part.rejects[by_line[line]] = (
                        line,
                        self._scrub(_row_text(row))[:RAW_LIMIT],
                        reason,
                        kind,
                    )
            return part
        for k, row in enumerate(table.to_pylist()):
            res = self._validate_payload(row)
            if isinstance(res, _Bad):
                self._reject(part, lines[k], _row_text(row), res.kind, res.reason)
            else:
                self._accept(part, lines[k], res, (None, None, None), False)
        return part

    # ----------------------------------------------------------------- assembling

    def finish(self, part: Part, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        calls = calls_frame(part.cols, source)
        rejects = rejects_frame(part.rejects, source)
        if part.reject_blocks:
            rejects = pd.concat(
                [rejects, *(_block_frame(b, source) for b in part.reject_blocks)], ignore_index=True
            )
        if self.duplicates == "reject" and len(calls):
            calls, dup_rejects = self._drop_duplicates(calls, source)
            if len(dup_rejects):
                rejects = pd.concat([rejects, dup_rejects], ignore_index=True)
        rejects = rejects.sort_values("line", kind="stable", ignore_index=True)
        return calls, rejects

    def _drop_duplicates(self, calls: pd.DataFrame, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        if source not in self.sources:
            self.sources.append(source)
        src_i = self.sources.index(source)
        ids = calls["call_id"].to_numpy()
        lines = calls["line"].to_numpy()
        first_in_chunk = ~pd.Series(ids).duplicated(keep="first").to_numpy()
        pos = np.searchsorted(self.seen_ids, ids)
        pos_c = np.minimum(pos, max(len(self.seen_ids) - 1, 0))
        seen_before = (self.seen_ids[pos_c] == ids) if len(self.seen_ids) else np.zeros(len(ids), dtype=bool)
        dup = seen_before | ~first_in_chunk
        if not dup.any():
            self._remember(ids, np.full(len(ids), src_i), lines)
            return calls, empty_rejects()
        # where was each duplicate first seen?
        first_line_in_chunk = pd.Series(lines[first_in_chunk], index=ids[first_in_chunk])
        rows = []
        raws = calls.loc[dup]
        dup_ms = raws["date_started"].array.as_unit("ms").asi8
        for k, (cid, line, prior) in enumerate(
            zip(ids[dup].tolist(), lines[dup].tolist(), seen_before[dup].tolist(), strict=True)
        ):
            if prior:
                j = pos_c[np.flatnonzero(dup)[k]]
                where = f"{self.sources[self.seen_src[j]]}:{self.seen_line[j]}"
            else:
                where = f"{source}:{first_line_in_chunk[cid]}"
            raw = _calls_row_text(raws.iloc[k], int(dup_ms[k]))
            rows.append((line, raw, f"line {line}: duplicate call_id {cid} (first at {where})", "duplicate"))
        keep = ~dup
        self._remember(ids[keep], np.full(int(keep.sum()), src_i), lines[keep])
        return calls.loc[keep].reset_index(drop=True), rejects_frame(rows, source)

    def _remember(self, ids: np.ndarray, src: np.ndarray, lines: np.ndarray) -> None:
        all_ids = np.concatenate([self.seen_ids, ids])
        order = np.argsort(all_ids, kind="stable")
        self.seen_ids = all_ids[order]
        self.seen_src = np.concatenate([self.seen_src, src])[order]
        self.seen_line = np.concatenate([self.seen_line, lines])[order]


# --------------------------------------------------------------------------- small helpers


def _block_frame(block: tuple[Any, Any, Any, str], source: str) -> pd.DataFrame:
    """A rejects frame (:data:`~dialpad_nb.core.frames.REJECT_COLUMNS`) from one block of rejects."""
    lines, raws, reasons, kind = block
    n = len(lines)

    def text(arr: Any) -> pd.Series:  # the frames' "string" dtype, whichever storage pandas gives it
        return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([arr], type=pa.string()))).astype(
            "string"
        )

    return pd.DataFrame(
        {
            "source": text(pa.repeat(pa.scalar(source), n)),
            "line": pd.Series(lines, dtype="int64"),
            "raw": text(raws),
            "reason": text(reasons),
            "kind": text(pa.repeat(pa.scalar(kind), n)),
        }
    )


def _is_str(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)


def _str_col(a: Any) -> pa.Array:
    a = a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a
    if pa.types.is_large_string(a.type):
        a = a.cast(pa.string())
    return a


def _np(a: Any) -> np.ndarray:
    a = a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a
    return a.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _columns(table: pa.Table) -> dict[str, Any]:
    return {name: table.column(name) for name in table.column_names if name in PAYLOAD_FIELDS}


def _arrow_lines(texts: Sequence[bytes]) -> pa.Table | None:
    if texts and max(map(len, texts)) <= _ARROW_MAX_DEPTH:
        return _parse_json_lines(b"\n".join(texts))  # no line is long enough to nest deeply
    return _arrow_buf(b"\n".join(texts))


_ARROW_MAX_DEPTH = 256
"""Lines that may nest deeper than this never reach pyarrow's JSON reader: it recurses per level
and crashes the process (segfault) near 20,000. They take the reference path (``json.loads``)."""


def _may_nest_deeply(buf: bytes, newlines: np.ndarray | None = None) -> bool:
    """True if some line of ``buf`` has more than :data:`_ARROW_MAX_DEPTH` opening brackets
    (an upper bound of its depth). Free when no line is longer than that, or when each line opens
    about one object; else one pass over the long lines.

    ``newlines``: the positions of the newlines between ``buf``'s lines when the caller has them
    and knows that every line starts with ``{`` (:func:`_object_lines`)."""
    opens = None
    if newlines is None:
        opens = buf.count(b"{") + buf.count(b"[")
        if opens <= _ARROW_MAX_DEPTH:
            return False
        a = np.frombuffer(buf, dtype=np.uint8)
        newlines = _between(byte_positions(a, 10), len(a))
        objects = buf.startswith(b"{") and bool((a[newlines + 1] == 123).all())
    else:
        objects = True
    starts, ends = line_spans(newlines, len(buf))
    if not len(buf) or int((ends - starts).max()) <= _ARROW_MAX_DEPTH:
        return False  # a line's depth is at most its length
    if opens is None:
        opens = buf.count(b"{") + buf.count(b"[")
    if opens <= _ARROW_MAX_DEPTH or (objects and opens - len(starts) < _ARROW_MAX_DEPTH):
        return False  # every line opens at least one: none can have _ARROW_MAX_DEPTH more than that
    long_lines = np.flatnonzero(ends - starts > _ARROW_MAX_DEPTH)
    return any(
        buf.count(b"{", starts[i], ends[i]) + buf.count(b"[", starts[i], ends[i]) > _ARROW_MAX_DEPTH
        for i in long_lines.tolist()
    )


def _arrow_buf(buf: bytes, newlines: np.ndarray | None = None) -> pa.Table | None:
    """pyarrow's parse of JSON lines, or None where it must not or cannot parse them
    (``newlines``: see :func:`_may_nest_deeply`)."""
    if _may_nest_deeply(buf, newlines):
        return None  # the caller splits the block; the deep line ends up on the reference path
    return _parse_json_lines(buf)


def _parse_json_lines(buf: bytes) -> pa.Table | None:
    """pyarrow's parse of lines that cannot nest deeply (see :data:`_ARROW_MAX_DEPTH`)."""
    if not buf.isascii():
        try:  # pyarrow does not check UTF-8: text in another encoding takes the reference path
            buf.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        return pj.read_json(  # a BufferReader: pyarrow reads the bytes in place (no copies)
            pa.BufferReader(buf), read_options=pj.ReadOptions(use_threads=True, block_size=1 << 24)
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, UnicodeDecodeError, ValueError):
        return None


def _between(newlines: np.ndarray, size: int) -> np.ndarray:
    """The newlines between lines: all but one that ends the buffer (it starts no line)."""
    return newlines[:-1] if len(newlines) and newlines[-1] == size - 1 else newlines


def _object_lines(buf: bytes, n_lines: int) -> np.ndarray | None:
    """The positions of the newlines between ``buf``'s lines if every line starts with ``{``
    (so each yields at least one row or a parse error), else None.

    Which kind of record the lines are (payload, log record, wrapped token) is
    decided from the parsed table's columns."""
    if not buf.startswith(b"{"):
        return None
    a = np.frombuffer(buf, dtype=np.uint8)
    inner = _between(byte_positions(a, 10), len(a))
    if len(inner) != n_lines - 1 or not bool((a[inner + 1] == 123).all()):
        return None
    return inner


_OTHER, _PAYLOAD, _TOKEN = 0, 1, 2
_SPACE = np.zeros(256, dtype=bool)
_SPACE[list(b" \t\n\r\x0b\x0c")] = True  # what bytes.strip() strips
_TOKEN_FIRST = np.zeros(256, dtype=bool)
_TOKEN_FIRST[list(_B64URL_FIRST)] = True


def _line_kinds(buf: bytes) -> np.ndarray | None:
    """Each line's kind as the classifying loop would find it, for the two common kinds at once:
    ``_PAYLOAD`` (starts ``{"d``), ``_TOKEN`` (what :func:`_jwt_shaped` takes), else ``_OTHER``
    (the loop decides). None when a line is blank or has spaces to strip (the loop takes all)."""
    a = np.frombuffer(buf, dtype=np.uint8)
    newlines = byte_positions(a, 10)
    starts, ends = line_spans(newlines, len(a))
    if buf.endswith(b"\n"):
        starts, ends = starts[:-1], ends[:-1]
    length = ends - starts
    if not len(starts) or not length.all():
        return None
    first = a[starts]
    if _SPACE[first].any() or _SPACE[a[ends - 1]].any():
        return None
    top = len(a) - 1

    def byte(j: int) -> np.ndarray:
        return np.where(length > j, a[np.minimum(starts + j, top)], 0)

    kinds = np.full(len(starts), _OTHER, dtype=np.int8)
    kinds[(first == 123) & (byte(1) == 34) & (byte(2) == 100)] = _PAYLOAD
    dots = np.bincount(np.searchsorted(newlines, byte_positions(a, 46)), minlength=len(starts) + 1)
    kinds[_TOKEN_FIRST[first] & (dots[: len(starts)] == 2)] = _TOKEN
    return kinds


class _LazyLines:
    """``raws[i]`` for a chunk buffer: the text of line ``i`` (split only if a reject needs it)."""

    def __init__(self, buf: bytes) -> None:
        self._buf = buf
        self._lines: list[bytes] | None = None

    def __getitem__(self, i: int) -> bytes:
        if self._lines is None:
            self._lines = self._buf.split(b"\n")
        return self._lines[i].strip()


_BLOCK = 1 << 23
_MAX_READ = 1 << 28
_LINE_GUESS = 256  # bytes per line, until the file says


def line_chunks(f: Any, chunksize: int) -> Iterator[tuple[bytes, int]]:
    """``(buffer, number of lines)`` chunks of at most ``chunksize`` whole lines from ``f`` (``read(n)``).

    Each read asks for about what the rest of the chunk needs (from the lines seen so far), so a
    chunk is usually one read: no copy to join it."""
    parts: list[bytes] = []
    count = 0
    per_line = _LINE_GUESS
    while True:
        block = f.read(min(max((chunksize - count) * per_line, _BLOCK), _MAX_READ))
        if not block:
            break
        while True:
            c = block.count(b"\n")
            if c:
                per_line = len(block) // c + 1
            if count + c < chunksize:
                parts.append(block)
                count += c
                break
            k = chunksize - count
            if count + c == chunksize and block.endswith(b"\n"):
                pos = len(block) - 1
            else:
                pos = _nth_newline(block, k)
            parts.append(block[: pos + 1])
            yield b"".join(parts), chunksize
            parts, count = [], 0
            block = block[pos + 1 :]
            if not block:
                break
    if parts:
        buf = b"".join(parts)
        if buf:
            yield buf, count + (0 if buf.endswith(b"\n") else 1)


def _nth_newline(block: bytes, k: int) -> int:
    """The position of the ``k``-th newline of ``block`` (1-based; there are at least ``k``)."""
    if k <= 1024:
        pos = -1
        for _ in range(k):
            pos = block.index(b"\n", pos + 1)
        return pos
    return int(byte_positions(np.frombuffer(block, dtype=np.uint8), 10)[k - 1])


def _to_ms(v: Any) -> int | None:
    """``core.clock.to_ms`` (floored to the millisecond), or None when ``v`` is not a time."""
    try:
        return to_ms(v)
    except ValidationError:
        return None


def _jwt_shaped(s: bytes) -> bool:
    """What the line classifier sends to JWT verification: starts with a base64url character, two dots."""
    return s[:1] != b"" and s[0] in _B64URL_FIRST and s.count(b".") == 2


def _json_type(obj: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(obj), "number"
    )


def _json_error(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at col {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return type(exc).__name__


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: bytes that are not UTF-8 read as Windows-1252 (what Windows tools write)."""
    assert isinstance(exc, UnicodeDecodeError)
    return exc.object[exc.start : exc.end].decode("cp1252", errors="replace"), exc.end


CP1252_FALLBACK = "dialpad_nb.cp1252_fallback"
codecs.register_error(CP1252_FALLBACK, _cp1252_fallback)


def _loads(text: bytes) -> Any:
    """``json.loads`` of one line, or the exception: text that is not UTF-8 is read as Windows-1252
    (a "stray encoding"); nesting too deep for Python is a RecursionError (an exception, never a crash)."""
    try:
        return json.loads(text)
    except UnicodeDecodeError:
        try:
            return json.loads(text.decode("utf-8", CP1252_FALLBACK))
        except (ValueError, RecursionError) as exc:
            return exc
    except (ValueError, RecursionError) as exc:
        return exc


_JSON_FIRST = frozenset(b'{["-0123456789tfnNI')
_NOT_JSON_COL1 = "not JSON or a JWT: Expecting value at col 1"


def _plainly_not_json(s: bytes) -> bool:
    """ASCII that cannot start a JSON value: ``json.loads`` would say "Expecting value" at column 1
    (decided without calling it: a million garbage lines cost what good lines cost)."""
    return bool(s) and s[0] not in _JSON_FIRST and s.isascii() and 0 not in s[:4]


_BAD_OBJECT_COL2 = "not JSON: Expecting property name enclosed in double quotes at col 2"


def _plainly_bad_object(s: bytes) -> bool:
    """ASCII ``{`` followed by what cannot follow it in JSON: ``json.loads`` would say "Expecting
    property name" at column 2 (decided without calling it)."""
    return len(s) > 1 and s[1] not in b'"} \t\r\n' and s.isascii() and 0 not in s[:4]


def _not_json(s: bytes) -> str:
    if _plainly_not_json(s):
        return _NOT_JSON_COL1
    obj = _loads(s)
    if isinstance(obj, Exception):
        return f"not JSON or a JWT: {_json_error(obj)}"
    return "not a JSON object or a JWT"


def _row_text(row: dict) -> str:
    return json.dumps(row, default=str)


def _calls_row_text(row: pd.Series, ms: int) -> str:
    """The accepted (normalised) payload of a row, as JSON: the raw text of a duplicate."""
    d = {k: row[k] for k in PAYLOAD_FIELDS}
    d["date_started"] = ms
    d["call_id"] = int(d["call_id"])
    return json.dumps({k: (None if pd.isna(v) else v) for k, v in d.items()}, default=str)
