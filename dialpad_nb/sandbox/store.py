"""The sandbox's state in SQLite: routers, numbers, PATCH times, errors, attempts, outbox.

One connection guarded by a re-entrant lock, so the store can be shared by the
event loop, uvicorn's thread and test threads. Every method is atomic; several
calls can be made atomic together with :meth:`SandboxStore.transaction`::

    with store.transaction():
        router = store.get_router(rid)
        ...
        store.update_router(rid, {...}, now_ms=now)

A file database uses WAL; ``":memory:"`` keeps everything in the process.
Routers, numbers, attempts, errors and the outbox survive a restart with a file.

Rows come back as plain dicts. A router dict holds the secret in clear (key
``secret``) because dispatch must sign with it: never log a router dict; the
API layer turns it into Dialpad's ``signature`` object.

Tables (the dispatch code uses the last four)::

    routers         seq, id, name, routing_url, office_id, default_target_id,
                    default_target_type, enabled, secret, created_ms, updated_ms
    numbers         seq, number, area_code, office_id, company_id, type, status,
                    router_id, rank (order of a router's numbers, primary first)
    router_patches  router_id, at_ms   (last *successful* PATCH)
    meta            key, value         (seed, id counter, clock high-water mark, ...)
    attempts        attempt_id, call_id, router_id, external_number, internal_number,
                    at_ms, latency_ms, outcome, http_status, detail, target_id,
                    target_type, is_default, error_count, disabled_after, enabled_before
    router_errors   router_id, at_ms
    outbox          id, at_ms, router_id, to_addr, subject, body

Call history and events (schema 2; :mod:`.history`, :mod:`.events`, :mod:`.delivery` use them;
a database made by schema 1 gets them when it is opened)::

    calls               seq, call_id, date_started, router_id, target_id, target_type,
                        record (the concluded CallProto, JSON)
    webhooks            seq, id, hook_url, secret, created_ms, updated_ms
    call_subscriptions  seq, id, webhook_id, call_states (JSON list), enabled,
                        group_calls_only, target_id, target_type, created_ms
    deliveries          id, created_ms, subscription_id, webhook_id, call_id, state,
                        event (JSON), status (pending|delivered|failed), attempts,
                        next_at_ms (wall clock), last_error
    delivery_attempts   id, delivery_id, attempt, at_ms (wall clock), url, signed,
                        http_status, latency_ms, error
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..core.clock import MAX_MS, MIN_MS, check_ms
from ..core.errors import DialpadError, ValidationError
from ..core.protocol import ATTEMPT_KEYS, BOOL_ATTEMPT_KEYS

__all__ = [
    "ATTEMPT_FIELDS",
    "BOOL_ATTEMPT_FIELDS",
    "RecordConflict",
    "MissingRecord",
    "SandboxStore",
    "StoreClosed",
    "StoreError",
]

log = logging.getLogger("dialpad_nb.sandbox.store")

SCHEMA_VERSION = 2


def _valid_ms(value: str | None) -> int | None:
    """A stored time as int when it is one within the years 1970-9999, else None."""
    if value is None or not (value.isascii() and value.lstrip("-").isdigit()) or len(value) > 20:
        return None
    ms = int(value)
    return ms if MIN_MS <= ms <= MAX_MS else None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS routers (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  INTEGER NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    routing_url         TEXT NOT NULL,
    office_id           INTEGER NOT NULL,
    default_target_id   INTEGER NOT NULL,
    default_target_type TEXT NOT NULL,
    enabled             INTEGER NOT NULL DEFAULT 1,
    secret              TEXT,
    created_ms          INTEGER NOT NULL,
    updated_ms          INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS routers_office ON routers(office_id, seq);
CREATE TABLE IF NOT EXISTS numbers (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    number     TEXT NOT NULL UNIQUE,
    area_code  TEXT,
    office_id  INTEGER,
    company_id INTEGER,
    type       TEXT NOT NULL DEFAULT 'local',
    status     TEXT NOT NULL,
    target_id  INTEGER,
    target_type TEXT,
    router_id  INTEGER,
    rank       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS numbers_router ON numbers(router_id, rank);
CREATE INDEX IF NOT EXISTS numbers_status ON numbers(status, seq);
CREATE TABLE IF NOT EXISTS router_patches (
    router_id INTEGER PRIMARY KEY,
    at_ms     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS attempts (
    attempt_id      INTEGER PRIMARY KEY,
    call_id         INTEGER,
    router_id       INTEGER,
    external_number TEXT,
    internal_number TEXT,
    at_ms           INTEGER NOT NULL,
    latency_ms      REAL,
    outcome         TEXT NOT NULL,
    http_status     INTEGER,
    detail          TEXT,
    target_id       INTEGER,
    target_type     TEXT,
    is_default      INTEGER,
    error_count     INTEGER,
    disabled_after  INTEGER,
    enabled_before  INTEGER
);
CREATE INDEX IF NOT EXISTS attempts_router ON attempts(router_id, attempt_id);
CREATE TABLE IF NOT EXISTS router_errors (
    router_id INTEGER NOT NULL,
    at_ms     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS router_errors_router ON router_errors(router_id, at_ms);
CREATE TABLE IF NOT EXISTS outbox (
    id        INTEGER PRIMARY KEY,
    at_ms     INTEGER NOT NULL,
    router_id INTEGER,
    to_addr   TEXT NOT NULL,
    subject   TEXT NOT NULL,
    body      TEXT NOT NULL
);
"""

_SCHEMA_2 = """
CREATE TABLE IF NOT EXISTS calls (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id      INTEGER NOT NULL UNIQUE,
    date_started INTEGER NOT NULL,
    router_id    INTEGER,
    target_id    INTEGER,
    target_type  TEXT,
    record       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_started ON calls(date_started, seq);
CREATE INDEX IF NOT EXISTS calls_router ON calls(router_id, date_started, seq);
CREATE INDEX IF NOT EXISTS calls_target ON calls(target_type, target_id, date_started, seq);
CREATE TABLE IF NOT EXISTS webhooks (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         INTEGER NOT NULL UNIQUE,
    hook_url   TEXT NOT NULL,
    secret     TEXT,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS call_subscriptions (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               INTEGER NOT NULL UNIQUE,
    webhook_id       INTEGER NOT NULL,
    call_states      TEXT NOT NULL,
    enabled          INTEGER NOT NULL DEFAULT 1,
    group_calls_only INTEGER NOT NULL DEFAULT 0,
    target_id        INTEGER,
    target_type      TEXT,
    created_ms       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id              INTEGER PRIMARY KEY,
    created_ms      INTEGER NOT NULL,
    subscription_id INTEGER NOT NULL,
    webhook_id      INTEGER NOT NULL,
    call_id         INTEGER NOT NULL,
    state           TEXT NOT NULL,
    event           TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_at_ms      INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(status, next_at_ms, id);
CREATE INDEX IF NOT EXISTS deliveries_call ON deliveries(call_id, id);
CREATE TABLE IF NOT EXISTS delivery_attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    url         TEXT,
    signed      INTEGER,
    http_status INTEGER,
    latency_ms  REAL,
    error       TEXT
);
CREATE INDEX IF NOT EXISTS delivery_attempts_delivery ON delivery_attempts(delivery_id, attempt);
"""

ATTEMPT_FIELDS: tuple[str, ...] = tuple("at_ms" if k == "at" else k for k in ATTEMPT_KEYS[1:])
"""Columns of an attempt record besides ``attempt_id``: the control API's
:data:`~dialpad_nb.core.protocol.ATTEMPT_KEYS` with ``at`` stored as ``at_ms``."""

BOOL_ATTEMPT_FIELDS: tuple[str, ...] = BOOL_ATTEMPT_KEYS
"""Attempt fields stored as 0/1 and read back as bools (or None)."""

_ROUTER_COLUMNS = (
    "name",
    "routing_url",
    "office_id",
    "default_target_id",
    "default_target_type",
    "enabled",
    "secret",
)

# Router ids look like Dialpad's (16 digits) and never collide with the seeded directory's.
_ROUTER_ID_BASE = 5_100_000_000_000_000
_ROUTER_ID_SPAN = 10**15


class StoreError(DialpadError):
    """Base of the store's refusals (the API turns them into 4xx answers)."""


class MissingRecord(StoreError, LookupError):
    """No such router or number."""


class StoreClosed(StoreError, RuntimeError):
    """The store was closed (its sandbox stopped); :meth:`SandboxStore.open` starts it again."""


class RecordConflict(StoreError):
    """The number is already assigned elsewhere."""


def area_code_of(number: str) -> str | None:
    """The NANP area code of ``+1AAA...``, else None."""
    return number[2:5] if number.startswith("+1") and len(number) == 12 else None


class SandboxStore:
    """SQLite state of one sandbox. ``path`` is a file path or ``":memory:"``.

    ``seed`` and ``seed_numbers`` apply only when the database is new; an existing
    file keeps the seed it was created with (so router ids continue, never repeat).
    ``seed_numbers`` are dicts with the ``numbers`` columns (``number``, ``status``,
    ``office_id``, ``company_id``, optional ``target_id``/``target_type``).
    ``reserved_ids`` are ids that minted router ids must avoid (the directory's).
    ``pool_office_id`` is the office that numbers in the reserved pool are shown under.

    The store opens itself on first use; :meth:`open`/:meth:`close` are idempotent.
    After :meth:`close`, using the store raises RuntimeError until :meth:`open` is called.
    """

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        seed: int = 0,
        seed_numbers: Iterable[Mapping[str, Any]] = (),
        reserved_ids: Iterable[int] = (),
        pool_office_id: int | None = None,
    ) -> None:
        self.path = str(path)
        self._seed = int(seed)
        self._seed_numbers = [dict(n) for n in seed_numbers]
        self._reserved_ids = frozenset(int(i) for i in reserved_ids)
        self.pool_office_id = pool_office_id
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._depth = 0

    def __repr__(self) -> str:
        state = "open" if self._conn is not None else "closed"
        return f"SandboxStore({self.path!r}, {state})"

    # ------------------------------------------------------------------ lifecycle

    @property
    def is_memory(self) -> bool:
        return self.path == ":memory:"

    def open(self) -> SandboxStore:
        with self._lock:
            if self._conn is not None:
                return self
            self._closed = False
            if not self.is_memory:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            if not self.is_memory:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            self._conn = conn
            with self.transaction():
                self._create_schema()
                self._repair_times()
            return self

    def _create_schema(self) -> None:
        conn = self._c()
        for statement in (_SCHEMA + _SCHEMA_2).split(";"):
            if statement.strip():
                conn.execute(statement)
        version = self._get_meta("schema_version")
        if version is not None and int(version) < SCHEMA_VERSION:  # an older database: tables added above
            self._set_meta("schema_version", str(SCHEMA_VERSION))
        if version is None:
            self._set_meta("schema_version", str(SCHEMA_VERSION))
            self._set_meta("seed", str(self._seed))
            self._set_meta("router_counter", "0")
            for n in self._seed_numbers:
                self._insert_number(n)
        else:
            self._seed = int(self._get_meta("seed") or 0)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._closed = True

    def __enter__(self) -> SandboxStore:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def seed(self) -> int:
        """The seed in force (the one the database was created with)."""
        self._c()
        return self._seed

    def _c(self) -> sqlite3.Connection:
        if self._conn is None:
            if self._closed:
                # Reopening silently would hand an empty database to late callers of a
                # closed in-memory store; only an explicit open() starts again.
                raise StoreClosed(f"the sandbox store {self.path!r} is closed")
            self.open()
        assert self._conn is not None
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and one SQLite transaction; nested uses join the outer one.

        An exception rolls everything back (no partial state)."""
        with self._lock:
            conn = self._c()
            if self._depth:
                self._depth += 1
                try:
                    yield conn
                finally:
                    self._depth -= 1
                return
            conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield conn
            except BaseException:
                self._depth = 0
                conn.execute("ROLLBACK")
                raise
            else:
                self._depth = 0
                conn.execute("COMMIT")

    # ------------------------------------------------------------------ meta

    def _get_meta(self, key: str) -> str | None:
        row = self._c().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set_meta(self, key: str, value: str) -> None:
        self._c().execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def get_meta(self, key: str) -> str | None:
        with self.transaction():
            return self._get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._set_meta(key, value)

    def next_counter(self, name: str, start: int = 1) -> int:
        """The next value of a durable counter (1, 2, 3, ... by default); e.g. call ids."""
        key = f"counter:{name}"
        with self.transaction():
            current = self._get_meta(key)
            value = start if current is None else int(current) + 1
            self._set_meta(key, str(value))
            return value

    def note_time(self, now_ms: int) -> None:
        """Remember the latest clock time seen, so a restarted simulated clock never goes back.

        A time outside the years 1970-9999 is a ValidationError and is never stored."""
        now_ms = check_ms(int(now_ms), field="now_ms")
        with self.transaction():
            current = _valid_ms(self._get_meta("clock_high_water_ms"))
            if current is None or now_ms > current:
                self._set_meta("clock_high_water_ms", str(now_ms))

    def clock_high_water_ms(self) -> int | None:
        """The latest clock time the database has seen (always within the years 1970-9999)."""
        return _valid_ms(self.get_meta("clock_high_water_ms"))

    def _repair_times(self) -> None:
        """Recover a database written before times were checked (issue #9): a high-water mark, PATCH
        times or error times outside the years 1970-9999 made every clock read and every PATCH-limit
        answer fail. Such PATCH/error rows are dropped; the mark becomes the latest valid time stored."""
        conn = self._c()
        mark = self._get_meta("clock_high_water_ms")
        bad_rows = 0
        for table in ("router_patches", "router_errors"):
            bad_rows += conn.execute(
                f"DELETE FROM {table} WHERE NOT (at_ms BETWEEN ? AND ?)", (MIN_MS, MAX_MS)
            ).rowcount
        if mark is None or (_valid_ms(mark) is not None and not bad_rows):
            return
        latest = [
            conn.execute(
                f"SELECT MAX({col}) FROM {table} WHERE {col} BETWEEN ? AND ?", (MIN_MS, MAX_MS)
            ).fetchone()[0]
            for table, col in (
                ("routers", "created_ms"),
                ("routers", "updated_ms"),
                ("router_patches", "at_ms"),
                ("router_errors", "at_ms"),
                ("attempts", "at_ms"),
                ("outbox", "at_ms"),
            )
        ]
        valid = [t for t in latest if t is not None]
        if _valid_ms(mark) is not None:
            valid.append(int(mark))
        if valid:
            self._set_meta("clock_high_water_ms", str(max(valid)))
        else:
            conn.execute("DELETE FROM meta WHERE key = 'clock_high_water_ms'")
        log.warning(
            "sandbox store %s: repaired times outside the years 1970-9999 (clock high-water mark%s)",
            self.path,
            f", {bad_rows} PATCH/error rows" if bad_rows else "",
        )

    # ------------------------------------------------------------------ routers

    def _mint_router_id(self) -> int:
        counter = int(self._get_meta("router_counter") or 0)
        while True:
            counter += 1
            digest = hashlib.sha256(f"dialpad_nb-router:{self._seed}:{counter}".encode()).digest()
            candidate = _ROUTER_ID_BASE + int.from_bytes(digest[:8], "big") % _ROUTER_ID_SPAN
            if candidate in self._reserved_ids:
                continue
            taken = (
                self._c()
                .execute(
                    "SELECT 1 FROM routers WHERE id = ? UNION SELECT 1 FROM attempts WHERE router_id = ? LIMIT 1",
                    (candidate, candidate),
                )
                .fetchone()
            )
            if taken is None:
                self._set_meta("router_counter", str(counter))
                return candidate

    def _router_row(self, row: sqlite3.Row) -> dict[str, Any]:
        out = dict(row)
        out["enabled"] = bool(out["enabled"])
        out["phone_numbers"] = [
            r[0]
            for r in self._c().execute(
                "SELECT number FROM numbers WHERE router_id = ? ORDER BY rank, seq", (out["id"],)
            )
        ]
        return out

    def create_router(self, fields: Mapping[str, Any], *, now_ms: int) -> dict[str, Any]:
        """Insert a router with a freshly minted id; ``fields`` holds the router columns.

        Returns the router dict (``id``, ``seq``, the columns, ``phone_numbers``)."""
        with self.transaction() as conn:
            router_id = self._mint_router_id()
            conn.execute(
                "INSERT INTO routers(id, name, routing_url, office_id, default_target_id, default_target_type,"
                " enabled, secret, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    router_id,
                    fields["name"],
                    fields["routing_url"],
                    int(fields["office_id"]),
                    int(fields["default_target_id"]),
                    fields["default_target_type"],
                    1 if fields.get("enabled", True) else 0,
                    fields.get("secret") or None,
                    int(now_ms),
                    int(now_ms),
                ),
            )
            self.note_time(now_ms)
            return self.get_router(router_id)  # type: ignore[return-value]

    def get_router(self, router_id: int) -> dict[str, Any] | None:
        with self.transaction() as conn:
            row = conn.execute("SELECT * FROM routers WHERE id = ?", (int(router_id),)).fetchone()
            return None if row is None else self._router_row(row)

    def list_routers(
        self, *, office_id: int | None = None, after_seq: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Routers in creation order (by ``seq``), optionally one office's, after a ``seq``."""
        sql = "SELECT * FROM routers WHERE seq > ?"
        args: list[Any] = [after_seq or 0]
        if office_id is not None:
            sql += " AND office_id = ?"
            args.append(int(office_id))
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self.transaction() as conn:
            return [self._router_row(r) for r in conn.execute(sql, args).fetchall()]

    def update_router(self, router_id: int, changes: Mapping[str, Any], *, now_ms: int) -> dict[str, Any]:
        """Change router columns (keys of ``changes`` among the create fields and ``enabled``).

        A changed ``office_id`` moves the router's numbers to that office too.
        Raises MissingRecord for an unknown router."""
        unknown = set(changes) - set(_ROUTER_COLUMNS)
        if unknown:
            raise ValidationError(f"not router columns: {', '.join(sorted(unknown))}", field="values")
        with self.transaction() as conn:
            if self.get_router(router_id) is None:
                raise MissingRecord(f"no call router with id {router_id}")
            values = {k: (1 if v else 0) if k == "enabled" else v for k, v in changes.items()}
            if "secret" in values:
                values["secret"] = values["secret"] or None
            if values:
                assignments = ", ".join(f"{k} = ?" for k in values)
                conn.execute(
                    f"UPDATE routers SET {assignments}, updated_ms = ? WHERE id = ?",
                    [*values.values(), int(now_ms), int(router_id)],
                )
            if "office_id" in values:
                conn.execute(
                    "UPDATE numbers SET office_id = ? WHERE router_id = ?", (values["office_id"], router_id)
                )
            self.note_time(now_ms)
            return self.get_router(router_id)  # type: ignore[return-value]

    def set_enabled(self, router_id: int, enabled: bool) -> bool:
        """Enable or disable a router (dispatch's auto-disable). False if there is no such router."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE routers SET enabled = ? WHERE id = ?", (1 if enabled else 0, int(router_id))
            )
            return cur.rowcount > 0

    def delete_router(self, router_id: int) -> dict[str, Any] | None:
        """Delete a router; its numbers return to the reserved pool, its PATCH time and errors go.

        Returns the router as it was before deletion (with its numbers), or None.
        Attempts and outbox entries are history and stay."""
        with self.transaction() as conn:
            router = self.get_router(router_id)
            if router is None:
                return None
            self._return_to_pool("router_id = ?", (int(router_id),))
            conn.execute("DELETE FROM router_patches WHERE router_id = ?", (int(router_id),))
            conn.execute("DELETE FROM router_errors WHERE router_id = ?", (int(router_id),))
            conn.execute("DELETE FROM routers WHERE id = ?", (int(router_id),))
            return router

    def router_for_number(self, number: str) -> dict[str, Any] | None:
        """The router a number is assigned to (with its secret), or None."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT r.* FROM routers r JOIN numbers n ON n.router_id = r.id WHERE n.number = ?",
                (number,),
            ).fetchone()
            return None if row is None else self._router_row(row)

    # ------------------------------------------------------------------ PATCH limit

    def record_patch(self, router_id: int, at_ms: int) -> None:
        """Remember a *successful* PATCH of this router at ``at_ms``."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO router_patches(router_id, at_ms) VALUES (?, ?)"
                " ON CONFLICT(router_id) DO UPDATE SET at_ms = excluded.at_ms",
                (int(router_id), int(at_ms)),
            )
            self.note_time(at_ms)

    def last_patch_ms(self, router_id: int) -> int | None:
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT at_ms FROM router_patches WHERE router_id = ?", (int(router_id),)
            ).fetchone()
            return None if row is None else int(row[0])

    # ------------------------------------------------------------------ errors (auto-disable window)

    def error_times(self, router_id: int, *, since_ms: int | None = None) -> list[int]:
        """The router's recorded error times, oldest first (optionally only those > ``since_ms``).

        Feed them to ``policy.ErrorWindow``/``RouterHealthState``; old ones expire there."""
        sql = "SELECT at_ms FROM router_errors WHERE router_id = ?"
        args: list[Any] = [int(router_id)]
        if since_ms is not None:
            sql += " AND at_ms > ?"
            args.append(int(since_ms))
        with self.transaction() as conn:
            return [int(r[0]) for r in conn.execute(sql + " ORDER BY at_ms", args)]

    def add_error(self, router_id: int, at_ms: int) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO router_errors(router_id, at_ms) VALUES (?, ?)", (int(router_id), int(at_ms))
            )
            self.note_time(at_ms)

    def clear_errors(self, router_id: int) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM router_errors WHERE router_id = ?", (int(router_id),))

    def prune_errors(self, router_id: int, *, older_than_or_at_ms: int) -> None:
        """Forget errors that can no longer count (optional housekeeping)."""
        with self.transaction() as conn:
            conn.execute(
                "DELETE FROM router_errors WHERE router_id = ? AND at_ms <= ?",
                (int(router_id), int(older_than_or_at_ms)),
            )

    # ------------------------------------------------------------------ numbers

    def _insert_number(self, n: Mapping[str, Any]) -> None:
        number = n["number"]
        self._c().execute(
            "INSERT INTO numbers(number, area_code, office_id, company_id, type, status, target_id,"
            " target_type, router_id, rank) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                number,
                n.get("area_code", area_code_of(number)),
                n.get("office_id"),
                n.get("company_id"),
                n.get("type", "local"),
                n.get("status", "available"),
                n.get("target_id"),
                n.get("target_type"),
                n.get("router_id"),
                int(n.get("rank", 0)),
            ),
        )

    @staticmethod
    def _number_row(row: sqlite3.Row) -> dict[str, Any]:
        return dict(row)

    def get_number(self, number: str) -> dict[str, Any] | None:
        with self.transaction() as conn:
            row = conn.execute("SELECT * FROM numbers WHERE number = ?", (number,)).fetchone()
            return None if row is None else self._number_row(row)

    def list_numbers(
        self,
        *,
        status: str | None = None,
        router_id: int | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Numbers in the order they entered the company (``seq``), optionally filtered."""
        sql = "SELECT * FROM numbers WHERE seq > ?"
        args: list[Any] = [after_seq or 0]
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        if router_id is not None:
            sql += " AND router_id = ?"
            args.append(int(router_id))
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self.transaction() as conn:
            return [self._number_row(r) for r in conn.execute(sql, args).fetchall()]

    def _return_to_pool(self, where: str, args: tuple[Any, ...]) -> None:
        self._c().execute(
            "UPDATE numbers SET status = 'available', target_id = NULL, target_type = NULL,"
            f" router_id = NULL, rank = 0, office_id = ? WHERE {where}",
            (self.pool_office_id, *args),
        )

    def _mint_number(self, area_code: str) -> str:
        existing = {
            r[0]
            for r in self._c().execute(
                "SELECT number FROM numbers WHERE number LIKE ?", (f"+1{area_code}555%",)
            )
        }
        for block in range(1, 100):
            for line in range(1, 100):
                candidate = f"+1{area_code}555{block:02d}{line:02d}"
                if candidate not in existing:
                    return candidate
        raise RecordConflict(f"no free number left to mint in area code {area_code}")

    def assign_number(
        self,
        router_id: int,
        *,
        number: str | None = None,
        area_code: str | None = None,
        primary: bool = True,
        default_area_code: str = "415",
        company_id: int | None = None,
    ) -> dict[str, Any]:
        """Assign a number to a router and return the number row.

        * ``number`` given: that number. RecordConflict if it is assigned to anything
          but this router; taken out of the pool if it was there; added (minted) if new.
        * else: the reserved pool first (oldest number in ``area_code`` if any, else the
          oldest in the pool; assumption: BEHAVIOUR.md says the pool is used "if any"),
          else a new number ``+1<area>555BBLL`` (``BB`` from 01, ``LL`` from 01), in
          ``area_code`` or ``default_area_code``.

        ``primary`` puts the number first in the router's ``phone_numbers``.
        MissingRecord for an unknown router. Atomic: a refusal changes nothing."""
        with self.transaction() as conn:
            router = self.get_router(router_id)
            if router is None:
                raise MissingRecord(f"no call router with id {router_id}")
            if number is not None:
                row = self.get_number(number)
                if row is None:
                    self._insert_number({"number": number, "status": "available", "company_id": company_id})
                elif row["status"] != "available" and row["router_id"] != router["id"]:
                    owner = (
                        f"{row['target_type']} {row['target_id']}" if row["target_type"] else row["status"]
                    )
                    raise RecordConflict(f"number {number} is already assigned to {owner}")
                chosen = number
            else:
                row = None
                if area_code is not None:
                    row = conn.execute(
                        "SELECT number FROM numbers WHERE status = 'available' AND area_code = ?"
                        " ORDER BY seq LIMIT 1",
                        (area_code,),
                    ).fetchone()
                if row is None:
                    row = conn.execute(
                        "SELECT number FROM numbers WHERE status = 'available' ORDER BY seq LIMIT 1"
                    ).fetchone()
                if row is not None:
                    chosen = row[0]
                else:
                    chosen = self._mint_number(area_code or default_area_code)
                    self._insert_number({"number": chosen, "status": "available", "company_id": company_id})
            ranks = conn.execute(
                "SELECT MIN(rank), MAX(rank) FROM numbers WHERE router_id = ? AND number != ?",
                (router["id"], chosen),
            ).fetchone()
            lo, hi = ranks if ranks[0] is not None else (1, -1)
            rank = lo - 1 if primary else hi + 1
            conn.execute(
                "UPDATE numbers SET status = 'call_router', target_type = 'callrouter', target_id = ?,"
                " router_id = ?, office_id = ?, rank = ?, company_id = COALESCE(company_id, ?)"
                " WHERE number = ?",
                (router["id"], router["id"], router["office_id"], rank, company_id, chosen),
            )
            return self.get_number(chosen)  # type: ignore[return-value]

    def unassign_number(self, number: str, *, release: bool = False) -> dict[str, Any]:
        """Unassign a number: back to the reserved pool, or (``release``) out of the company.

        Returns the number row afterwards (for a release, the row as it was, unassigned).
        MissingRecord for an unknown number."""
        with self.transaction() as conn:
            row = self.get_number(number)
            if row is None:
                raise MissingRecord(f"no number {number} in the company")
            self._return_to_pool("number = ?", (number,))
            after = self.get_number(number)
            if release:
                conn.execute("DELETE FROM numbers WHERE number = ?", (number,))
            return after  # type: ignore[return-value]

    # ------------------------------------------------------------------ attempts

    def add_attempt(self, record: Mapping[str, Any]) -> int:
        """Append one call attempt (keys from ``ATTEMPT_FIELDS``; missing ones are NULL).

        Atomic and thread-safe; returns the new ``attempt_id`` (1, 2, 3, ...)."""
        unknown = set(record) - set(ATTEMPT_FIELDS) - {"attempt_id"}
        if unknown:
            raise ValidationError(f"not attempt fields: {', '.join(sorted(unknown))}", field="record")
        if record.get("at_ms") is None or record.get("outcome") is None:
            raise ValidationError("an attempt needs at_ms and outcome", field="record")
        values = []
        for name in ATTEMPT_FIELDS:
            value = record.get(name)
            if name in BOOL_ATTEMPT_FIELDS and value is not None:
                value = 1 if value else 0
            values.append(value)
        with self.transaction() as conn:
            cur = conn.execute(
                f"INSERT INTO attempts({', '.join(ATTEMPT_FIELDS)}) VALUES ({', '.join('?' * len(ATTEMPT_FIELDS))})",
                values,
            )
            self.note_time(int(record["at_ms"]))
            return int(cur.lastrowid)  # type: ignore[arg-type]

    @staticmethod
    def _attempt_row(row: sqlite3.Row) -> dict[str, Any]:
        out = dict(row)
        for name in BOOL_ATTEMPT_FIELDS:
            if out[name] is not None:
                out[name] = bool(out[name])
        return out

    def get_attempt(self, attempt_id: int) -> dict[str, Any] | None:
        with self.transaction() as conn:
            row = conn.execute("SELECT * FROM attempts WHERE attempt_id = ?", (int(attempt_id),)).fetchone()
            return None if row is None else self._attempt_row(row)

    def list_attempts(
        self, *, router_id: int | None = None, after_id: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Attempts in the order they were recorded, optionally one router's, after an id."""
        sql = "SELECT * FROM attempts WHERE attempt_id > ?"
        args: list[Any] = [after_id or 0]
        if router_id is not None:
            sql += " AND router_id = ?"
            args.append(int(router_id))
        sql += " ORDER BY attempt_id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self.transaction() as conn:
            return [self._attempt_row(r) for r in conn.execute(sql, args).fetchall()]

    # ------------------------------------------------------------------ outbox

    def add_email(self, *, at_ms: int, router_id: int | None, to_addr: str, subject: str, body: str) -> int:
        """Put an email in the sandbox's outbox; returns its id."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO outbox(at_ms, router_id, to_addr, subject, body) VALUES (?, ?, ?, ?, ?)",
                (int(at_ms), router_id, to_addr, subject, body),
            )
            return int(cur.lastrowid)  # type: ignore[arg-type]

    def list_outbox(self, *, router_id: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM outbox"
        args: list[Any] = []
        if router_id is not None:
            sql += " WHERE router_id = ?"
            args.append(int(router_id))
        with self.transaction() as conn:
            return [dict(r) for r in conn.execute(sql + " ORDER BY id", args).fetchall()]
