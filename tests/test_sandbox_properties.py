"""Properties of the sandbox under random sequences of operations (hypothesis).

* Routers' ``phone_numbers`` and the numbers' targets always agree; a number is
  never lost and never on two routers; pool numbers carry no target.
* Paging is invisible: collecting every page (any page size) gives the same list
  as the store in one read.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialpad_nb.core.clock import SimulatedClock
from dialpad_nb.samples.company import DEPARTMENTS, OFFICES
from dialpad_nb.sandbox import create_app

from .conftest import SANDBOX_TEST_KEY, _test_client_class

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.sampled_from([o["id"] for o in OFFICES])),
        st.tuples(st.just("assign"), st.integers(0, 5), st.sampled_from([None, "415", "206", "628"])),
        st.tuples(st.just("assign_number"), st.integers(0, 5), st.integers(0, 12)),
        st.tuples(st.just("unassign"), st.integers(0, 30)),
        st.tuples(st.just("delete"), st.integers(0, 5)),
    ),
    max_size=14,
)


def pages(client, path, params=None):
    out, cursor = [], None
    while True:
        q = dict(params or {}, **({"cursor": cursor} if cursor else {}))
        page = client.get(path, params=q).json()
        out += page["items"]
        cursor = page.get("cursor")
        if not cursor:
            return out


def check_invariants(client, store, seen_numbers):
    numbers = pages(client, "/api/v2/numbers")
    routers = pages(client, "/api/v2/callrouters")
    # paging agrees with one read of the store
    assert [n["number"] for n in numbers] == [n["number"] for n in store.list_numbers()]
    assert [r["id"] for r in routers] == [r["id"] for r in store.list_routers()]
    # nothing lost: every number ever seen is still in the company
    assert seen_numbers <= {n["number"] for n in numbers}
    seen_numbers.update(n["number"] for n in numbers)
    by_router: dict[int, set[str]] = {}
    for n in numbers:
        if n["status"] == "available":
            assert "target_id" not in n and "target_type" not in n
        elif n["status"] == "call_router":
            assert n["target_type"] == "callrouter"
            by_router.setdefault(n["target_id"], set()).add(n["number"])
    listed = [num for r in routers for num in r["phone_numbers"]]
    assert len(listed) == len(set(listed))  # never on two routers
    assert {r["id"]: set(r["phone_numbers"]) for r in routers if r["phone_numbers"]} == by_router


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, page_size=st.integers(1, 4))
def test_numbers_and_routers_stay_consistent_under_any_sequence(ops, page_size):
    app = create_app(api_key=SANDBOX_TEST_KEY, clock=SimulatedClock(), page_size=page_size)
    with _test_client_class()(app, headers={"Authorization": f"Bearer {SANDBOX_TEST_KEY}"}) as client:
        store = app.state.sandbox.store
        seen: set[str] = set()
        router_ids: list[int] = []
        for op in ops:
            kind = op[0]
            if kind == "create":
                r = client.post(
                    "/api/v2/callrouters",
                    json={
                        "name": "p",
                        "routing_url": "https://ops.example/r",
                        "office_id": op[1],
                        "default_target_id": DEPARTMENTS[0]["id"],
                        "default_target_type": "department",
                    },
                )
                assert r.status_code == 200
                router_ids.append(r.json()["id"])
            elif kind in ("assign", "assign_number") and router_ids:
                rid = router_ids[op[1] % len(router_ids)]
                if kind == "assign":
                    payload = {} if op[2] is None else {"area_code": op[2]}
                else:
                    every = [n["number"] for n in store.list_numbers()]
                    payload = {"number": every[op[2] % len(every)]}
                r = client.post(f"/api/v2/callrouters/{rid}/assign_number", json=payload)
                assert r.status_code in (200, 404, 409), r.text
            elif kind == "unassign":
                every = store.list_numbers()
                chosen = every[op[1] % len(every)]
                r = client.delete(f"/api/v2/numbers/{chosen['number']}")
                assert r.status_code == (400 if chosen["status"] == "office" else 200), r.text
            elif kind == "delete" and router_ids:
                rid = router_ids[op[1] % len(router_ids)]
                assert client.delete(f"/api/v2/callrouters/{rid}").status_code in (200, 404)
            check_invariants(client, store, seen)
