"""The endpoint kit's JSONL log writer: one record per request (format in
:mod:`dialpad_nb.core.endpoint_log`), appended from many threads and many worker processes,
rotated by size; the recent records kept in memory. The secret and the raw token are never
written.

**One coherent file, whatever the number of workers.** Every record is one ``write()`` on a
descriptor opened with ``O_APPEND``, made while holding an exclusive ``flock`` on
``<log>.lock``: appends from several processes never interleave, and none lands in a file
that is being rotated or compressed (``tests/test_endpoint_log_files.py`` proves it with
several processes appending and rotating at once). ``flock`` needs a local filesystem; where
``fcntl`` does not exist (Windows) only threads of one process are serialised.

**Rotation.** With ``max_bytes``, the record that would take the file past it first moves
the file to ``<stem>.<UTC stamp><suffix>`` (:func:`~dialpad_nb.core.endpoint_log.rotated_name`),
then starts a new one; a background thread gzips the rotated file (``.gz``, written aside and
renamed, so a reader never sees half of it). ``max_files`` keeps that many rotated files and
deletes older ones (default: keep all). Every log reader given the active path follows all
generations (:func:`~dialpad_nb.core.endpoint_log.log_files`).
"""

from __future__ import annotations

import gzip
import json
import os
import queue
import shutil
import threading
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..core.endpoint_log import LOG_FIELDS, LOG_OUTCOMES, log_files, make_record, rotated_name
from ..core.errors import ValidationError

try:  # POSIX; on Windows the log is serialised between threads only
    import fcntl
except ImportError:  # pragma: no cover - not on this platform
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOG_FIELDS", "LOG_OUTCOMES", "EndpointLog", "make_record"]


class EndpointLog:
    """Append-only JSONL log, safe to append from many threads and processes.

    With ``path`` each record is appended to the file (one ``write()``, under the log's lock);
    the last ``keep`` records are also held in memory for :meth:`records`. ``max_bytes``
    rotates the file by size (rotated files are gzipped unless ``compress=False``);
    ``max_files`` bounds how many rotated files are kept."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        keep: int = 10_000,
        max_bytes: int | None = None,
        max_files: int | None = None,
        compress: bool = True,
    ) -> None:
        for name, value in (("max_bytes", max_bytes), ("max_files", max_files)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValidationError(f"must be a positive integer, got {value!r}", field=name)
        self.path = Path(path) if path is not None else None
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.compress = compress
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lock = threading.Condition()
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._compressing: queue.SimpleQueue[Path | None] | None = None
        self._compressor: threading.Thread | None = None
        self.rotations = 0
        """Rotations this writer made (others' rotations are not counted)."""
        self._appended = 0
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ writing

    def append(self, record: Mapping[str, Any]) -> None:
        data = (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            if self.path is not None:
                self._write(data)
            self._recent.append(dict(record))
            if "event" not in record:  # requests only: reload events are not calls
                self._appended += 1
            self._lock.notify_all()

    def _write(self, data: bytes) -> None:
        assert self.path is not None
        if self._lock_fd is None:
            self._lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            fd = self._current_fd()
            if self.max_bytes is not None:
                size = os.fstat(fd).st_size
                if size and size + len(data) > self.max_bytes:
                    fd = self._rotate(fd)
            _write_all(fd, data)
        finally:
            if fcntl is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _current_fd(self) -> int:
        """Our descriptor on the active file, reopened when another process rotated it (the path
        now names another file) or someone removed it. Called with the lock held."""
        assert self.path is not None
        if self._fd is not None:
            try:
                on_disk = os.stat(self.path)
                mine = os.fstat(self._fd)
                if (on_disk.st_ino, on_disk.st_dev) == (mine.st_ino, mine.st_dev):
                    return self._fd
            except FileNotFoundError:
                pass
            os.close(self._fd)
            self._fd = None
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self._fd

    def _rotate(self, fd: int) -> int:
        """Move the active file aside, start a new one, queue the old one for gzip. Lock held."""
        assert self.path is not None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = rotated_name(self.path, stamp)
        n = 0
        while target.exists() or target.with_name(target.name + ".gz").exists():
            n += 1
            target = rotated_name(self.path, f"{stamp}-{n}")
        os.replace(self.path, target)
        os.close(fd)
        self._fd = None
        self.rotations += 1
        if self.compress:
            self._compress_later(target)
        if self.max_files is not None:
            rotated = [f for f in log_files(self.path) if f != self.path]
            for old in rotated[: max(len(rotated) - self.max_files, 0)]:
                for victim in (old, old.with_name(old.name + ".gz")):
                    victim.unlink(missing_ok=True)
        return self._current_fd()

    def _compress_later(self, path: Path) -> None:
        if self._compressing is None or self._compressor is None or not self._compressor.is_alive():
            self._compressing = queue.SimpleQueue()
            self._compressor = threading.Thread(
                target=_compress_loop, args=(self._compressing,), name="endpoint-log-gzip", daemon=True
            )
            self._compressor.start()
        self._compressing.put(path)

    def close(self, timeout_s: float = 10.0) -> None:
        """Finish compressing rotated files (bounded wait) and close the files. The log can still
        be appended to afterwards (it reopens)."""
        with self._lock:
            compressor, pending = self._compressor, self._compressing
            self._compressor = self._compressing = None
            for fd in (self._fd, self._lock_fd):
                if fd is not None:
                    os.close(fd)
            self._fd = self._lock_fd = None
        if compressor is not None and pending is not None:
            pending.put(None)
            compressor.join(timeout_s)

    # ------------------------------------------------------------------ reading back

    def records(self) -> list[dict[str, Any]]:
        """The most recent records held in memory (oldest first)."""
        with self._lock:
            return list(self._recent)

    def wait_for_call(self, call_id: int, timeout_s: float = 10.0) -> dict[str, Any]:
        """The record of ``call_id``, waiting (up to ``timeout_s``) until it is logged.

        A request whose caller gave up (Dialpad's deadline) is logged only when the
        endpoint answers; this waits for that. ``TimeoutError`` if it never comes."""

        return self.wait_for(
            lambda r: r.get("call_id") == call_id, timeout_s, what=f"no log record for call {call_id}"
        )

    def wait_for(
        self,
        match: Callable[[dict[str, Any]], bool],
        timeout_s: float = 10.0,
        *,
        what: str = "no such record",
    ) -> dict[str, Any]:
        """The newest record held in memory for which ``match(record)`` is true, waiting (up to
        ``timeout_s``) until one is appended; ``TimeoutError`` if none comes."""

        def find() -> dict[str, Any] | None:
            return next((r for r in reversed(self._recent) if match(r)), None)

        with self._lock:
            if not self._lock.wait_for(lambda: find() is not None, timeout_s):
                raise TimeoutError(f"{what} within {timeout_s:g} s")
            return dict(find())  # type: ignore[arg-type]

    def wait_for_requests(self, count: int, timeout_s: float = 10.0, *, strict: bool = True) -> int:
        """Wait until at least ``count`` requests were logged since this log was made; the number
        logged. If they do not come in time: ``TimeoutError`` naming how many came, or, with
        ``strict=False``, just the number that came (watching for real calls on an account)."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._appended >= count, timeout_s) and strict:
                raise TimeoutError(f"{self._appended} of {count} requests were logged within {timeout_s:g} s")
            return self._appended

    def __len__(self) -> int:
        with self._lock:
            return len(self._recent)

    def __repr__(self) -> str:
        rotation = f", max_bytes={self.max_bytes}" if self.max_bytes else ""
        return f"EndpointLog(path={str(self.path) if self.path else None!r}{rotation}, records={len(self)})"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _compress_loop(pending: queue.SimpleQueue[Path | None]) -> None:
    while (path := pending.get()) is not None:
        _gzip_file(path)


def _gzip_file(path: Path) -> None:
    """``path`` -> ``path.gz`` (written aside, then renamed), then ``path`` removed. A file gone
    already (deleted by ``max_files``) is skipped; a failure leaves the plain file, still read."""
    target = path.with_name(path.name + ".gz")
    part = path.with_name(path.name + ".gz.part")
    try:
        with open(path, "rb") as src, gzip.open(part, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(part, target)
        path.unlink()
    except OSError:
        part.unlink(missing_ok=True)
