"""The sandbox's SQLite store: persistence, atomicity, thread safety, the tables dispatch uses."""

from __future__ import annotations

import re
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from dialpad_nb.sandbox.store import ATTEMPT_FIELDS, MissingRecord, RecordConflict, SandboxStore

T0 = 1_767_603_600_000
OFFICE = 6_286_560_707_051_431
POOL = [{"number": f"+1415555100{i}", "status": "available", "office_id": OFFICE} for i in range(1, 4)]
ROUTER = {
    "name": "r",
    "routing_url": "https://ops.example/route",
    "office_id": OFFICE,
    "default_target_id": 5_001_000_000_000_101,
    "default_target_type": "department",
}


def make(path=":memory:", **kw):
    kw.setdefault("seed_numbers", POOL)
    kw.setdefault("pool_office_id", OFFICE)
    return SandboxStore(path, **kw).open()


def attempt(**kw):
    record = {"call_id": 1, "router_id": 11, "at_ms": T0, "outcome": "ok"}
    record.update(kw)
    return record


def test_routers_numbers_attempts_errors_outbox_and_counters_survive_a_restart(tmp_path):
    db = tmp_path / "sandbox.sqlite3"
    store = make(db, seed=3)
    router = store.create_router({**ROUTER, "secret": "s" * 32}, now_ms=T0)
    store.assign_number(router["id"])
    store.record_patch(router["id"], T0 + 5)
    store.add_error(router["id"], T0 + 6)
    aid = store.add_attempt(attempt(router_id=router["id"], is_default=True, latency_ms=12.5))
    store.add_email(at_ms=T0 + 7, router_id=router["id"], to_addr="a@b.example", subject="s", body="b")
    assert store.next_counter("call_id") == 1
    store.close()

    again = make(db, seed=999, seed_numbers=[])  # seed and seed numbers of a new database only
    assert again.seed == 3
    assert again.get_router(router["id"]) == {**router, "phone_numbers": [POOL[0]["number"]]}
    assert again.get_router(router["id"])["secret"] == "s" * 32
    assert again.last_patch_ms(router["id"]) == T0 + 5
    assert again.error_times(router["id"]) == [T0 + 6]
    assert again.get_attempt(aid)["latency_ms"] == 12.5
    assert again.get_attempt(aid)["is_default"] is True
    assert [e["to_addr"] for e in again.list_outbox()] == ["a@b.example"]
    assert again.next_counter("call_id") == 2
    assert again.clock_high_water_ms() == T0 + 6  # the latest time written (the error)
    assert [n["number"] for n in again.list_numbers(status="available")] == [p["number"] for p in POOL[1:]]
    again.close()


def test_router_ids_continue_after_a_restart_exactly_as_without_one(tmp_path):
    straight = make()
    expected = [straight.create_router(ROUTER, now_ms=T0)["id"] for _ in range(4)]
    db = tmp_path / "ids.sqlite3"
    first = make(db)
    got = [first.create_router(ROUTER, now_ms=T0)["id"] for _ in range(2)]
    first.delete_router(got[1])
    first.close()
    second = make(db)
    got += [second.create_router(ROUTER, now_ms=T0)["id"] for _ in range(2)]
    assert got == expected
    assert len(set(got)) == 4


def test_minted_ids_avoid_reserved_ids():
    probe = make()
    first_id = probe.create_router(ROUTER, now_ms=T0)["id"]
    store = make(reserved_ids=[first_id])
    assert store.create_router(ROUTER, now_ms=T0)["id"] != first_id


def test_wal_for_files(tmp_path):
    store = make(tmp_path / "wal.sqlite3")
    mode = sqlite3.connect(tmp_path / "wal.sqlite3").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    store.close()


def test_a_failed_transaction_leaves_nothing():
    store = make()
    with pytest.raises(RuntimeError), store.transaction():
        rid = store.create_router(ROUTER, now_ms=T0)["id"]
        store.assign_number(rid)
        raise RuntimeError("boom")
    assert store.list_routers() == []
    assert [n["status"] for n in store.list_numbers()] == ["available"] * 3


def test_update_and_enable_and_unknown_router():
    store = make()
    rid = store.create_router(ROUTER, now_ms=T0)["id"]
    updated = store.update_router(rid, {"name": "x", "enabled": False}, now_ms=T0 + 1)
    assert (updated["name"], updated["enabled"], updated["updated_ms"]) == ("x", False, T0 + 1)
    assert store.set_enabled(rid, True) is True
    assert store.get_router(rid)["enabled"] is True
    assert store.set_enabled(12345, True) is False
    with pytest.raises(MissingRecord):
        store.update_router(12345, {"name": "x"}, now_ms=T0)
    with pytest.raises(ValueError, match="phone_numbers"):
        store.update_router(rid, {"phone_numbers": []}, now_ms=T0)


def test_assign_conflict_and_unknown_router_change_nothing():
    store = make()
    a = store.create_router(ROUTER, now_ms=T0)["id"]
    b = store.create_router(ROUTER, now_ms=T0)["id"]
    taken = store.assign_number(a)["number"]
    before = store.list_numbers()
    with pytest.raises(RecordConflict, match=re.escape(taken)):
        store.assign_number(b, number=taken)
    with pytest.raises(MissingRecord):
        store.assign_number(777)
    assert store.list_numbers() == before


def test_router_for_number_and_delete_returns_numbers_and_forgets_errors_and_patch():
    store = make()
    rid = store.create_router(ROUTER, now_ms=T0)["id"]
    n = store.assign_number(rid)["number"]
    store.add_error(rid, T0)
    store.record_patch(rid, T0)
    assert store.router_for_number(n)["id"] == rid
    assert store.router_for_number("+10000000000") is None
    deleted = store.delete_router(rid)
    assert deleted["phone_numbers"] == [n]
    assert store.router_for_number(n) is None
    assert store.get_number(n)["status"] == "available"
    assert store.error_times(rid) == [] and store.last_patch_ms(rid) is None
    assert store.delete_router(rid) is None


def test_error_times_since_clear_and_prune():
    store = make()
    for t in (10, 20, 30):
        store.add_error(5, T0 + t)
    store.add_error(6, T0)
    assert store.error_times(5) == [T0 + 10, T0 + 20, T0 + 30]
    assert store.error_times(5, since_ms=T0 + 10) == [T0 + 20, T0 + 30]
    store.prune_errors(5, older_than_or_at_ms=T0 + 20)
    assert store.error_times(5) == [T0 + 30]
    store.clear_errors(5)
    assert store.error_times(5) == [] and store.error_times(6) == [T0]


def test_attempts_keep_every_field_and_page_by_router():
    store = make()
    full = {name: None for name in ATTEMPT_FIELDS} | {
        "call_id": 9,
        "router_id": 1,
        "external_number": "+14155550123",
        "internal_number": "+14155551001",
        "at_ms": T0,
        "latency_ms": 3.25,
        "outcome": "http_status",
        "http_status": 500,
        "detail": "HTTP 500",
        "target_id": 5,
        "target_type": "department",
        "is_default": True,
        "error_count": 1,
        "disabled_after": False,
        "enabled_before": True,
    }
    first = store.add_attempt(full)
    ids = [store.add_attempt(attempt(router_id=r)) for r in (1, 2, 1, 2)]
    assert store.get_attempt(first) == {"attempt_id": first, **full}
    assert [a["attempt_id"] for a in store.list_attempts(router_id=1)] == [first, ids[0], ids[2]]
    assert [a["attempt_id"] for a in store.list_attempts(after_id=ids[0], limit=2)] == ids[1:3]


@pytest.mark.parametrize(
    ("record", "match"),
    [({"at_ms": T0, "outcome": "ok", "colour": "red"}, "colour"), ({"outcome": "ok"}, "at_ms")],
)
def test_add_attempt_refuses_bad_records(record, match):
    with pytest.raises(ValueError, match=match):
        make().add_attempt(record)


def test_concurrent_writers_lose_no_attempt_and_ids_are_unique(tmp_path):
    store = make(tmp_path / "concurrent.sqlite3")

    def write(worker):
        return [store.add_attempt(attempt(call_id=worker * 1000 + i, router_id=worker)) for i in range(50)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = [i for batch in pool.map(write, range(8)) for i in batch]
    assert len(ids) == len(set(ids)) == 400
    rows = store.list_attempts()
    assert sorted(r["call_id"] for r in rows) == sorted(w * 1000 + i for w in range(8) for i in range(50))


def test_concurrent_counters_never_repeat():
    store = make()
    out: list[int] = []
    lock = threading.Lock()

    def bump():
        for _ in range(100):
            value = store.next_counter("call_id")
            with lock:
                out.append(value)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(out) == list(range(1, 401))


def test_outbox_filter_by_router():
    store = make()
    store.add_email(at_ms=T0, router_id=1, to_addr="a@x.example", subject="1", body="b")
    store.add_email(at_ms=T0, router_id=2, to_addr="b@x.example", subject="2", body="b")
    assert [e["subject"] for e in store.list_outbox(router_id=2)] == ["2"]
    assert [e["subject"] for e in store.list_outbox()] == ["1", "2"]


def test_store_opens_itself_and_repr_has_no_secrets():
    store = SandboxStore(":memory:")
    rid = store.create_router({**ROUTER, "secret": "x" * 40}, now_ms=T0)["id"]
    assert store.get_router(rid)["secret"] == "x" * 40
    assert "x" * 40 not in repr(store)


def test_a_closed_store_refuses_use_until_reopened(tmp_path):
    store = make(tmp_path / "closed.sqlite3")
    rid = store.create_router(ROUTER, now_ms=T0)["id"]
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.get_router(rid)
    assert store.open().get_router(rid)["id"] == rid
