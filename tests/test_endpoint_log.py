"""The endpoint log's readers: the flat frame and the side-by-side view with sandbox attempts."""

from __future__ import annotations

from dialpad_nb.api.control import attempts_frame
from dialpad_nb.core.protocol import ATTEMPT_KEYS
from dialpad_nb.endpoint.log import make_record
from dialpad_nb.health import SIDE_BY_SIDE_COLUMNS, side_by_side

T0 = 1_767_603_600_000


def attempt(attempt_id, call_id, outcome, target_id, *, latency=1.0, disabled=False):
    rec = dict.fromkeys(ATTEMPT_KEYS)
    rec.update(
        attempt_id=attempt_id,
        call_id=call_id,
        router_id=77,
        external_number="+14155550123",
        internal_number="+14155551001",
        at=T0 + attempt_id * 1000,
        latency_ms=latency,
        outcome=outcome,
        target_id=target_id,
        target_type="callcenter",
        is_default=target_id == 2,
        error_count=0,
        disabled_after=disabled,
        enabled_before=True,
    )
    return rec


def logged(call_id, outcome, *, rule=None, fallback=False, status=200):
    return make_record(
        ts=T0,
        call_id=call_id,
        payload=None,
        signed=True,
        decision={"target_id": 1, "target_type": "callcenter"} if status == 200 else None,
        rule=rule,
        fallback=fallback,
        status=status,
        latency_ms=3.2,
        outcome=outcome,
        error=None,
    )


def test_side_by_side_joins_on_call_id_and_leaves_unrequested_calls_empty():
    attempts = attempts_frame(
        [
            attempt(1, 101, "ok", 1),
            attempt(2, 102, "http_status", 2),
            attempt(3, 103, "skipped_disabled", 2, latency=None),
        ]
    )
    log = [
        logged(101, "ok", rule="sales"),
        logged(102, "unauthorized", status=401),
        logged(None, "bad_request", status=400),
    ]
    names = {1: "Inbound Sales", 2: "Reception"}
    df = side_by_side(attempts, log, name_of=lambda tid, ttype: names[tid])
    assert tuple(df.columns) == SIDE_BY_SIDE_COLUMNS
    assert df["call_id"].tolist() == [101, 102, 103]
    assert df["sandbox_outcome"].tolist() == ["ok", "http_status", "skipped_disabled"]
    assert df["target"].tolist() == ["Inbound Sales", "Reception", "Reception"]
    assert df["endpoint_outcome"].tolist()[:2] == ["ok", "unauthorized"]
    assert df["endpoint_outcome"].isna().tolist() == [False, False, True]
    assert df["rule"].tolist()[0] == "sales" and df["endpoint_status"].tolist()[:2] == [200, 401]


def test_side_by_side_of_nothing_has_the_columns():
    df = side_by_side(attempts_frame([]), [])
    assert tuple(df.columns) == SIDE_BY_SIDE_COLUMNS and df.empty


def test_wait_for_call_returns_once_the_record_is_appended_from_another_thread():
    import threading

    from dialpad_nb.endpoint.log import EndpointLog

    log = EndpointLog()
    got: list[dict] = []
    waiter = threading.Thread(target=lambda: got.append(log.wait_for_call(555, timeout_s=30)))
    waiter.start()
    log.append(logged(554, "ok"))
    log.append(logged(555, "fallback", fallback=True))
    waiter.join(30)
    assert got and got[0]["call_id"] == 555 and got[0]["outcome"] == "fallback"


def test_wait_for_call_gives_up_with_timeout_error():
    import pytest

    from dialpad_nb.endpoint.log import EndpointLog

    log = EndpointLog()
    log.append(logged(1, "ok"))
    with pytest.raises(TimeoutError, match="call 2"):
        log.wait_for_call(2, timeout_s=0.01)
