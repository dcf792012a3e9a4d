"""The one way call files are opened: gzip (member by member, truncation noticed), byte-order
marks, UTF-16/UTF-32 and stray Windows-1252 bytes, all turned into the UTF-8 bytes the parsers
read. Used by ``read_calls`` and the call-history reader alike."""

from __future__ import annotations

import codecs
import zlib
from collections.abc import Iterator

from ..core.endpoint_log import open_generation
from .reader import CP1252_FALLBACK

__all__ = ["DecodedFile", "sniff_encoding"]


class DecodedFile:
    """A file's bytes as the parsers want them: gzip decompressed (member by member), a byte-order
    mark dropped, UTF-16/UTF-32 (BOM, or NULs between ASCII) transcoded to UTF-8, and with
    ``repair`` bytes that are not UTF-8 read as Windows-1252. A damaged or truncated gzip stream
    ends the data where it breaks; :attr:`broken` says why (the reader rejects the tail)."""

    _BLOCK = 1 << 20

    def __init__(self, path: str, *, repair: bool = False) -> None:
        self._f = open_generation(path)  # a rotated log generation may be gzipped meanwhile
        magic = self._f.read(2)
        self._f.seek(0)
        self._zlib = zlib.decompressobj(31) if magic == b"\x1f\x8b" else None
        self._tail = b""  # compressed input not yet consumed
        self._done = False
        self.broken: str | None = None
        head = self._raw(4)
        encoding, skip = sniff_encoding(head)
        self.encoding = encoding or "utf-8"
        self._pending = head[skip:]
        if self._zlib is None and encoding is None and not repair:
            self._f.seek(skip)  # read on from there: a big first read is then not a copy
            self._pending = b""
        self._decoder = None
        if encoding is not None:
            self._decoder = codecs.getincrementaldecoder(encoding)("replace")
        elif repair:
            self._decoder = codecs.getincrementaldecoder("utf-8")(CP1252_FALLBACK)
        if self._decoder is not None:
            self._pending = self._decoder.decode(self._pending).encode("utf-8")

    def _raw(self, n: int) -> bytes:
        """Up to about ``n`` decompressed bytes; b"" at the end (or where the stream broke)."""
        if self._zlib is None:
            return self._f.read(n)
        out: list[bytes] = []
        size = 0
        while size < n and not self._done:
            if self._zlib.eof:  # a member ended: another may follow (concatenated gzip)
                rest = self._zlib.unused_data or self._tail or self._f.read(self._BLOCK)
                self._tail = b""
                if not rest.strip(b"\x00"):
                    if rest and not self._f.read(1):
                        rest = b""  # zero padding at the end, as gzip allows
                    if not rest:
                        self._done = True
                        break
                self._zlib = zlib.decompressobj(31)
                self._tail = rest
            data = self._tail or self._f.read(self._BLOCK)
            self._tail = b""
            if not data:
                self.broken = "the gzip stream ends before its end (the file is truncated)"
                self._done = True
                break
            try:
                chunk = self._zlib.decompress(data, n - size)
            except zlib.error as exc:
                self.broken = f"damaged gzip data ({exc})"
                self._done = True
                break
            self._tail = self._zlib.unconsumed_tail
            out.append(chunk)
            size += len(chunk)
        return b"".join(out)

    def read(self, n: int | None = -1) -> bytes:
        """Up to ``n`` decoded bytes (all that is left when ``n`` is negative or None)."""
        if n is None or n < 0:
            parts = [self.read(self._BLOCK * 64)]
            while parts[-1]:
                parts.append(self.read(self._BLOCK * 64))
            return b"".join(parts)
        parts = [self._pending] if self._pending else []
        have = len(self._pending)
        while have < n:
            raw = self._raw(max(n - have, 1 << 16))
            if not raw:
                if self._decoder is not None:
                    parts.append(self._decoder.decode(b"", final=True).encode("utf-8"))
                break
            parts.append(raw if self._decoder is None else self._decoder.decode(raw).encode("utf-8"))
            have += len(parts[-1])
        pending = parts[0] if len(parts) == 1 else b"".join(parts)  # one copy, not one per piece
        if len(pending) <= n:
            self._pending = b""
            return pending
        out, self._pending = pending[:n], pending[n:]
        return out

    def readline(self) -> bytes:
        """The next line, with its newline (b"" at the end)."""
        line = b""
        while True:
            chunk = self.read(1 << 16)
            if not chunk:
                return line
            cut = chunk.find(b"\n")
            if cut >= 0:
                self._pending = chunk[cut + 1 :] + self._pending
                return line + chunk[: cut + 1]
            line += chunk

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def raw_position(self) -> int:
        """How far into the file on disk the reading is (for a gzip file: the compressed bytes)."""
        try:
            return int(self._f.tell())
        except (OSError, ValueError):
            return 0

    def readable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self._f.closed

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> DecodedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sniff_encoding(head: bytes) -> tuple[str | None, int]:
    """(encoding or None for UTF-8 as it is, bytes of BOM to skip) from a file's first bytes."""
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, None),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if head.startswith(bom):
            return encoding, len(bom)
    if len(head) >= 4 and head[1] == 0 and head[3] == 0 and head[0] and head[2]:
        return "utf-16-le", 0  # spreadsheet "Unicode text" without a BOM
    if len(head) >= 4 and head[0] == 0 and head[2] == 0 and head[1] and head[3]:
        return "utf-16-be", 0
    return None, 0
