"""The sandbox's Dialpad REST API in-process (TestClient): every endpoint's success and failure paths."""

from __future__ import annotations

import pytest

from dialpad_nb.core.policy import DIALPAD
from dialpad_nb.samples.company import CALLCENTERS, DEPARTMENTS, OFFICES, USERS
from dialpad_nb.sandbox.app import RESERVED_POOL
from dialpad_nb.sandbox.http import decode_cursor, encode_cursor

from .conftest import SANDBOX_TEST_KEY

SF = OFFICES[0]["id"]
SEA = OFFICES[1]["id"]
SALES = DEPARTMENTS[0]["id"]
TIER1 = CALLCENTERS[1]["id"]
ADA = USERS[0]["id"]
SECRET = "router-secret-that-is-long-enough-0123"


def body(**overrides):
    out = {
        "name": "Support line",
        "routing_url": "https://ops.example/route",
        "office_id": SF,
        "default_target_id": SALES,
        "default_target_type": "department",
    }
    out.update(overrides)
    return out


def create(client, **overrides):
    r = client.post("/api/v2/callrouters", json=body(**overrides))
    assert r.status_code == 200, r.text
    return r.json()


def error_of(response, status):
    assert response.status_code == status, response.text
    data = response.json()
    assert set(data) == {"error"}
    assert data["error"]["code"] == status
    assert isinstance(data["error"]["message"], str) and data["error"]["message"]
    return data["error"]["message"]


def all_numbers(client):
    out, cursor = [], None
    while True:
        page = client.get("/api/v2/numbers", params={"cursor": cursor} if cursor else None).json()
        out += page["items"]
        cursor = page.get("cursor")
        if not cursor:
            return out


def advance(client, seconds):
    r = client.post("/sandbox/v1/clock", json={"advance_seconds": seconds})
    assert r.status_code == 200, r.text


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize("path", ["/api/v2/callrouters", "/api/v2/offices", "/sandbox/v1/clock"])
def test_missing_key_is_401_in_dialpads_shape(app_client, path):
    r = app_client.get(path, headers={"Authorization": ""})
    assert "API key" in error_of(r, 401)


@pytest.mark.parametrize("header", ["Bearer wrong-key", f"Basic {SANDBOX_TEST_KEY}", "Bearer"])
def test_wrong_bearer_is_401(app_client, header):
    r = app_client.get("/api/v2/callrouters", headers={"Authorization": header})
    error_of(r, 401)


def test_apikey_query_parameter_is_accepted_and_checked(app_client):
    no_header = {"Authorization": ""}
    ok = app_client.get("/api/v2/callrouters", params={"apikey": SANDBOX_TEST_KEY}, headers=no_header)
    assert ok.status_code == 200
    assert ok.json() == {"items": []}
    bad = app_client.get("/api/v2/callrouters", params={"apikey": "nope"}, headers=no_header)
    assert error_of(bad, 401) == "invalid API key"


def test_401_creates_nothing(app_client):
    r = app_client.post("/api/v2/callrouters", json=body(), headers={"Authorization": "Bearer nope"})
    error_of(r, 401)
    assert app_client.get("/api/v2/callrouters").json()["items"] == []


def test_unknown_path_and_method_answer_in_dialpads_shape(app_client):
    assert "/api/v2/nothing" in error_of(app_client.get("/api/v2/nothing"), 404)
    assert "PUT" in error_of(app_client.put("/api/v2/numbers"), 405)


# --------------------------------------------------------------------------- create / get


def test_create_returns_dialpads_router_object(app_client):
    router = create(app_client)
    assert isinstance(router["id"], int)
    assert router == {
        "id": router["id"],
        "name": "Support line",
        "routing_url": "https://ops.example/route",
        "office_id": SF,
        "default_target_id": SALES,
        "default_target_type": "department",
        "enabled": True,
        "phone_numbers": [],
        "signature": {},
    }
    assert app_client.get(f"/api/v2/callrouters/{router['id']}").json() == router


def test_create_with_secret_returns_dialpads_signature_and_enabled_false(app_client):
    router = create(
        app_client, secret=SECRET, enabled=False, default_target_id=str(ADA), default_target_type="user"
    )
    assert router["signature"] == {"type": "jwt", "algo": "HS256", "secret": SECRET}
    assert router["enabled"] is False
    assert router["default_target_id"] == ADA
    assert app_client.app.state.sandbox.store.get_router(router["id"])["secret"] == SECRET


def test_default_target_may_be_another_router(app_client):
    first = create(app_client)
    second = create(app_client, default_target_type="callrouter", default_target_id=first["id"])
    assert second["default_target_id"] == first["id"]


def test_missing_fields_are_named_together(app_client):
    r = app_client.post("/api/v2/callrouters", json={"name": "x", "office_id": None})
    message = error_of(r, 400)
    for field in ("routing_url", "office_id", "default_target_id", "default_target_type"):
        assert field in message
    assert "name" not in message.split(":", 1)[1]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": 5}, "name"),
        ({"name": "  "}, "name"),
        ({"name": "two\nlines"}, "name"),
        ({"routing_url": "ftp://ops.example/route"}, "routing_url"),
        ({"routing_url": "not a url"}, "routing_url"),
        ({"routing_url": 17}, "routing_url"),
        ({"office_id": "abc"}, "office_id"),
        ({"office_id": 1.5}, "office_id"),
        ({"office_id": 12345}, "office_id"),
        ({"default_target_type": "robot"}, "default_target_type"),
        ({"default_target_id": "x1"}, "default_target_id"),
        ({"default_target_id": 999}, "default_target_id"),
        ({"default_target_id": ADA}, "default_target_id"),  # a user id given as a department
        ({"default_target_type": "callrouter", "default_target_id": 42}, "default_target_id"),
        ({"enabled": "yes"}, "enabled"),
        ({"secret": 12345}, "secret"),
        ({"routng_url": "https://x.example"}, "routng_url"),
    ],
)
def test_bad_create_is_400_naming_the_field_and_leaves_nothing(app_client, overrides, field):
    message = error_of(app_client.post("/api/v2/callrouters", json=body(**overrides)), 400)
    assert field in message
    assert app_client.get("/api/v2/callrouters").json()["items"] == []
    assert app_client.app.state.sandbox.store.list_routers() == []


def test_short_secret_is_400_without_echoing_it(app_client):
    short = "tiny-secret-NEVER-ECHO"
    message = error_of(app_client.post("/api/v2/callrouters", json=body(secret=short)), 400)
    assert "secret" in message and str(DIALPAD.min_secret_length) in message
    assert short not in message


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"", "required"),
        (b'"text"', "JSON object"),
    ],
)
def test_malformed_create_body_is_400(app_client, content, needle):
    r = app_client.post("/api/v2/callrouters", content=content, headers={"Content-Type": "application/json"})
    assert needle in error_of(r, 400)
    assert app_client.get("/api/v2/callrouters").json()["items"] == []


def test_get_unknown_router_is_404(app_client):
    assert "1234" in error_of(app_client.get("/api/v2/callrouters/1234"), 404)


@pytest.mark.parametrize("rid", ["abc", "-5", "%C2%B2", "%D9%A3", "1" * 5000])
def test_path_id_that_is_not_an_id_is_400_naming_it(app_client, rid):
    """Not an id at all (Unicode digits such as ² and ٣ included: str.isdigit() is true for them)."""
    message = error_of(app_client.get(f"/api/v2/callrouters/{rid}"), 400)
    assert message.startswith("id: ") and len(message) < 200


def test_router_ids_are_deterministic_per_seed(app_client_factory):
    def ids(seed):
        client = app_client_factory(seed=seed)
        return [create(client)["id"] for _ in range(3)]

    a, b, c = ids(7), ids(7), ids(8)
    assert a == b
    assert len(set(a)) == 3
    assert not set(a) & set(c)


# --------------------------------------------------------------------------- list + pagination


def collect(client, path, params=None):
    pages, cursor = [], None
    while True:
        q = dict(params or {})
        if cursor:
            q["cursor"] = cursor
        r = client.get(path, params=q)
        assert r.status_code == 200, r.text
        page = r.json()
        pages.append(page)
        cursor = page.get("cursor")
        if cursor is None:
            return pages


def test_list_pages_in_creation_order_and_the_last_page_has_no_cursor(app_client_factory):
    client = app_client_factory(page_size=3)
    ids = [create(client, name=f"r{i}")["id"] for i in range(7)]
    pages = collect(client, "/api/v2/callrouters")
    assert [len(p["items"]) for p in pages] == [3, 3, 1]
    assert [r["id"] for p in pages for r in p["items"]] == ids
    assert "cursor" not in pages[-1]
    assert all(isinstance(p["cursor"], str) for p in pages[:-1])


def test_exactly_full_last_page_has_no_extra_empty_page(app_client_factory):
    client = app_client_factory(page_size=3)
    for i in range(6):
        create(client, name=f"r{i}")
    assert [len(p["items"]) for p in collect(client, "/api/v2/callrouters")] == [3, 3]


def test_office_filter_across_pages(app_client_factory):
    client = app_client_factory(page_size=2)
    sea_ids = []
    for i in range(8):
        office = SEA if i % 2 else SF
        r = create(client, name=f"r{i}", office_id=office)
        if office == SEA:
            sea_ids.append(r["id"])
    pages = collect(client, "/api/v2/callrouters", {"office_id": SEA})
    assert [r["id"] for p in pages for r in p["items"]] == sea_ids
    assert len(pages) == 2
    assert all(r["office_id"] == SEA for p in pages for r in p["items"])
    assert client.get("/api/v2/callrouters", params={"office_id": 77}).json() == {"items": []}


def test_bad_list_queries_are_400(app_client):
    assert "office_id" in error_of(app_client.get("/api/v2/callrouters", params={"office_id": "sf"}), 400)
    assert "cursor" in error_of(app_client.get("/api/v2/callrouters", params={"cursor": "garbage!"}), 400)
    foreign = encode_cursor("numbers", 2)  # a cursor of another list is refused too
    assert "cursor" in error_of(app_client.get("/api/v2/callrouters", params={"cursor": foreign}), 400)


# --------------------------------------------------------------------------- PATCH


def test_patch_changes_fields(app_client):
    router = create(app_client)
    r = app_client.patch(
        f"/api/v2/callrouters/{router['id']}",
        json={
            "name": "Renamed",
            "routing_url": "https://ops.example/v2",
            "default_target_type": "callcenter",
            "default_target_id": str(TIER1),
            "secret": SECRET,
            "enabled": False,
        },
    )
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated == {
        **router,
        "name": "Renamed",
        "routing_url": "https://ops.example/v2",
        "default_target_type": "callcenter",
        "default_target_id": TIER1,
        "signature": {"type": "jwt", "algo": "HS256", "secret": SECRET},
        "enabled": False,
    }
    assert app_client.get(f"/api/v2/callrouters/{router['id']}").json() == updated


def test_second_patch_inside_the_interval_is_429_with_retry_after_then_allowed(app_client):
    rid = create(app_client)["id"]
    assert (
        app_client.patch(
            f"/api/v2/callrouters/{rid}", json={"routing_url": "https://a.example/r"}
        ).status_code
        == 200
    )
    r = app_client.patch(f"/api/v2/callrouters/{rid}", json={"enabled": False})
    message = error_of(r, 429)
    assert r.headers["Retry-After"] == "300"
    assert "2026-01-05T09:05:00" in message and "300 s" in message
    assert app_client.get(f"/api/v2/callrouters/{rid}").json()["enabled"] is True  # unchanged
    advance(app_client, 299.5)
    r = app_client.patch(f"/api/v2/callrouters/{rid}", json={"enabled": False})
    error_of(r, 429)
    assert r.headers["Retry-After"] == "1"
    advance(app_client, 0.5)
    r = app_client.patch(f"/api/v2/callrouters/{rid}", json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False


def test_the_limit_is_per_router(app_client):
    a, b = create(app_client)["id"], create(app_client)["id"]
    assert app_client.patch(f"/api/v2/callrouters/{a}", json={"name": "a"}).status_code == 200
    assert app_client.patch(f"/api/v2/callrouters/{b}", json={"name": "b"}).status_code == 200
    error_of(app_client.patch(f"/api/v2/callrouters/{a}", json={"name": "a2"}), 429)


def test_a_rejected_patch_does_not_count_toward_the_limit(app_client):
    rid = create(app_client)["id"]
    assert "routing_url" in error_of(
        app_client.patch(f"/api/v2/callrouters/{rid}", json={"routing_url": "x"}), 400
    )
    error_of(app_client.patch(f"/api/v2/callrouters/{rid}", content=b"{oops"), 400)
    assert app_client.patch(f"/api/v2/callrouters/{rid}", json={"name": "ok"}).status_code == 200


def test_patch_of_unknown_router_is_404(app_client):
    assert "4242" in error_of(app_client.patch("/api/v2/callrouters/4242", json={"name": "x"}), 404)


def test_patch_interval_comes_from_the_policy(app_client_factory):
    client = app_client_factory(policy=DIALPAD.replace(patch_interval_s=10))
    rid = create(client)["id"]
    assert client.patch(f"/api/v2/callrouters/{rid}", json={"name": "a"}).status_code == 200
    r = client.patch(f"/api/v2/callrouters/{rid}", json={"name": "b"})
    error_of(r, 429)
    assert r.headers["Retry-After"] == "10"
    advance(client, 10)
    assert client.patch(f"/api/v2/callrouters/{rid}", json={"name": "b"}).status_code == 200


def test_empty_patch_succeeds_and_counts(app_client):
    rid = create(app_client)["id"]
    assert app_client.patch(f"/api/v2/callrouters/{rid}", json={}).status_code == 200
    error_of(app_client.patch(f"/api/v2/callrouters/{rid}", json={}), 429)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"enabled": "true"}, "enabled"),
        ({"reset_error_count": 1}, "reset_error_count"),
        ({"default_target_type": "user"}, "default_target_id"),  # SALES is not a user
        ({"office_id": 3}, "office_id"),
        ({"secret": "short"}, "secret"),
        ({"phone_numbers": []}, "phone_numbers"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_patch_is_400_naming_the_field_and_changes_nothing(app_client, patch, field):
    router = create(app_client)
    assert field in error_of(app_client.patch(f"/api/v2/callrouters/{router['id']}", json=patch), 400)
    assert app_client.get(f"/api/v2/callrouters/{router['id']}").json() == router


def test_enable_keeps_errors_and_reset_error_count_clears_them(app_client):
    store = app_client.app.state.sandbox.store
    rid = create(app_client)["id"]
    for t in range(3):
        store.add_error(rid, 1_767_603_600_000 + t)
    assert app_client.patch(f"/api/v2/callrouters/{rid}", json={"enabled": True}).status_code == 200
    assert len(store.error_times(rid)) == 3
    advance(app_client, 300)
    r = app_client.patch(f"/api/v2/callrouters/{rid}", json={"enabled": True, "reset_error_count": True})
    assert r.status_code == 200
    assert store.error_times(rid) == []


def test_empty_secret_removes_the_signature(app_client):
    rid = create(app_client, secret=SECRET)["id"]
    r = app_client.patch(f"/api/v2/callrouters/{rid}", json={"secret": ""})
    assert r.json()["signature"] == {}
    assert app_client.app.state.sandbox.store.get_router(rid)["secret"] is None


def test_moving_a_router_to_another_office_moves_its_numbers(app_client):
    rid = create(app_client)["id"]
    number = app_client.post(f"/api/v2/callrouters/{rid}/assign_number", json={}).json()["number"]
    assert app_client.patch(f"/api/v2/callrouters/{rid}", json={"office_id": SEA}).json()["office_id"] == SEA
    assert app_client.get(f"/api/v2/numbers/{number}").json()["office_id"] == SEA


# --------------------------------------------------------------------------- DELETE


def test_delete_returns_the_router_and_its_numbers_go_back_to_the_pool(app_client):
    router = create(app_client)
    rid = router["id"]
    n1 = app_client.post(f"/api/v2/callrouters/{rid}/assign_number", json={}).json()["number"]
    r = app_client.delete(f"/api/v2/callrouters/{rid}")
    assert r.status_code == 200
    assert r.json() == {**router, "phone_numbers": [n1]}
    error_of(app_client.get(f"/api/v2/callrouters/{rid}"), 404)
    pooled = app_client.get(f"/api/v2/numbers/{n1}").json()
    assert pooled["status"] == "available"
    assert "target_id" not in pooled and "target_type" not in pooled
    assert app_client.app.state.sandbox.store.router_for_number(n1) is None


def test_delete_unknown_router_is_404(app_client):
    error_of(app_client.delete("/api/v2/callrouters/999"), 404)


def test_delete_then_reassign_takes_the_pooled_number_again(app_client):
    first = create(app_client)["id"]
    n = app_client.post(f"/api/v2/callrouters/{first}/assign_number", json={}).json()["number"]
    app_client.delete(f"/api/v2/callrouters/{first}")
    second = create(app_client)["id"]
    again = app_client.post(f"/api/v2/callrouters/{second}/assign_number", json={}).json()
    assert again["number"] == n
    assert again["target_id"] == second


# --------------------------------------------------------------------------- assign_number


def test_assign_takes_the_oldest_pool_number_and_returns_a_number_object(app_client):
    rid = create(app_client)["id"]
    r = app_client.post(f"/api/v2/callrouters/{rid}/assign_number", json={"area_code": "415"})
    assert r.status_code == 200
    assert r.json() == {
        "number": RESERVED_POOL[0],
        "status": "call_router",
        "target_id": rid,
        "target_type": "callrouter",
        "office_id": SF,
        "company_id": app_client.app.state.sandbox.company.id,
        "area_code": "415",
        "type": "local",
    }
    assert app_client.get(f"/api/v2/callrouters/{rid}").json()["phone_numbers"] == [RESERVED_POOL[0]]
    assert app_client.app.state.sandbox.store.router_for_number(RESERVED_POOL[0])["id"] == rid


def test_primary_numbers_come_first(app_client):
    rid = create(app_client)["id"]
    url = f"/api/v2/callrouters/{rid}/assign_number"
    a = app_client.post(url, json={}).json()["number"]
    b = app_client.post(url, json={"primary": True}).json()["number"]
    c = app_client.post(url, json={"primary": False}).json()["number"]
    assert app_client.get(f"/api/v2/callrouters/{rid}").json()["phone_numbers"] == [b, a, c]


def test_empty_pool_mints_numbers_in_the_area_code(app_client):
    rid = create(app_client)["id"]
    url = f"/api/v2/callrouters/{rid}/assign_number"
    taken = [app_client.post(url, json={}).json()["number"] for _ in RESERVED_POOL]
    assert taken == list(RESERVED_POOL)
    assert app_client.get("/api/v2/numbers", params={"status": "available"}).json() == {"items": []}
    assert app_client.post(url, json={}).json()["number"] == "+14155550101"
    assert app_client.post(url, json={}).json()["number"] == "+14155550102"
    minted = app_client.post(url, json={"area_code": "206"}).json()
    assert minted["number"] == "+12065550101"
    assert minted["area_code"] == "206"


def test_pool_number_in_the_requested_area_code_is_preferred(app_client):
    rid = create(app_client)["id"]
    url = f"/api/v2/callrouters/{rid}/assign_number"
    assert app_client.post(url, json={"number": "+12065550150"}).status_code == 200
    app_client.delete("/api/v2/numbers/+12065550150")
    assert app_client.post(url, json={"area_code": "206"}).json()["number"] == "+12065550150"


def test_pool_is_used_even_when_no_pool_number_matches_the_area_code(app_client):
    """Assumption (BEHAVIOUR.md: "takes a number from the reserved pool if any")."""
    rid = create(app_client)["id"]
    got = app_client.post(f"/api/v2/callrouters/{rid}/assign_number", json={"area_code": "628"}).json()
    assert got["number"] == RESERVED_POOL[0]


def test_explicit_number_from_the_pool_or_new(app_client):
    rid = create(app_client)["id"]
    url = f"/api/v2/callrouters/{rid}/assign_number"
    assert app_client.post(url, json={"number": RESERVED_POOL[2]}).json()["status"] == "call_router"
    available = [
        n["number"] for n in app_client.get("/api/v2/numbers", params={"status": "available"}).json()["items"]
    ]
    assert RESERVED_POOL[2] not in available
    fresh = app_client.post(url, json={"number": "+16285550199"}).json()
    assert (fresh["number"], fresh["area_code"], fresh["target_id"]) == ("+16285550199", "628", rid)
    again = app_client.post(url, json={"number": "+16285550199", "primary": False})
    assert again.status_code == 200  # already this router's: no conflict


@pytest.mark.parametrize("taken", ["office", "router"])
def test_explicit_number_assigned_elsewhere_is_409_and_changes_nothing(app_client, taken):
    rid = create(app_client)["id"]
    other = create(app_client, name="other")["id"]
    if taken == "office":
        number = OFFICES[0]["phone_numbers"][0]
    else:
        number = app_client.post(f"/api/v2/callrouters/{other}/assign_number", json={}).json()["number"]
    before = all_numbers(app_client)
    message = error_of(
        app_client.post(f"/api/v2/callrouters/{rid}/assign_number", json={"number": number}), 409
    )
    assert number in message
    assert all_numbers(app_client) == before
    assert app_client.get(f"/api/v2/callrouters/{rid}").json()["phone_numbers"] == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"number": "4155551234"}, "number"),
        ({"number": 14155551234}, "number"),
        ({"area_code": "41"}, "area_code"),
        ({"area_code": 415}, "area_code"),
        ({"primary": "yes"}, "primary"),
        ({"extension": "12"}, "extension"),
    ],
)
def test_bad_assign_is_400_naming_the_field_and_changes_nothing(app_client, payload, field):
    rid = create(app_client)["id"]
    before = all_numbers(app_client)
    assert field in error_of(app_client.post(f"/api/v2/callrouters/{rid}/assign_number", json=payload), 400)
    assert all_numbers(app_client) == before


def test_assign_to_unknown_router_is_404(app_client):
    before = all_numbers(app_client)
    error_of(app_client.post("/api/v2/callrouters/31337/assign_number", json={}), 404)
    assert all_numbers(app_client) == before


def test_assign_accepts_an_empty_body(app_client):
    rid = create(app_client)["id"]
    r = app_client.post(f"/api/v2/callrouters/{rid}/assign_number")
    assert r.status_code == 200 and r.json()["number"] == RESERVED_POOL[0]


# --------------------------------------------------------------------------- numbers


def test_numbers_list_holds_office_lines_and_the_pool(app_client):
    items = app_client.get("/api/v2/numbers").json()["items"]
    by_number = {n["number"]: n for n in items}
    assert by_number[OFFICES[0]["phone_numbers"][0]]["status"] == "office"
    assert by_number[OFFICES[0]["phone_numbers"][0]]["target_id"] == SF
    assert [n["number"] for n in items if n["status"] == "available"] == list(RESERVED_POOL)


def test_numbers_status_filter_and_pages(app_client_factory):
    client = app_client_factory(page_size=3)
    rid = create(client)["id"]
    client.post(f"/api/v2/callrouters/{rid}/assign_number", json={})
    pages = collect(client, "/api/v2/numbers", {"status": "available"})
    assert [len(p["items"]) for p in pages] == [3]
    assert [n["number"] for n in pages[0]["items"]] == list(RESERVED_POOL[1:])
    routed = collect(client, "/api/v2/numbers", {"status": "call_router"})
    assert [n["number"] for p in routed for n in p["items"]] == [RESERVED_POOL[0]]
    everything = collect(client, "/api/v2/numbers")
    assert [len(p["items"]) for p in everything] == [3, 3]


def test_numbers_bad_status_is_400(app_client):
    assert "status" in error_of(app_client.get("/api/v2/numbers", params={"status": "lost"}), 400)


def test_get_number(app_client):
    n = app_client.get(f"/api/v2/numbers/{RESERVED_POOL[0]}").json()
    assert n["status"] == "available" and n["area_code"] == "415"
    assert app_client.get(f"/api/v2/numbers/{RESERVED_POOL[0][1:]}").json() == n  # without the '+'
    assert "+19995550000" in error_of(app_client.get("/api/v2/numbers/+19995550000"), 404)


def test_unassign_returns_the_number_to_the_pool(app_client):
    rid = create(app_client)["id"]
    n = app_client.post(f"/api/v2/callrouters/{rid}/assign_number", json={}).json()["number"]
    r = app_client.delete(f"/api/v2/numbers/{n}")
    assert r.status_code == 200
    assert r.json()["status"] == "available" and "target_id" not in r.json()
    assert app_client.get(f"/api/v2/callrouters/{rid}").json()["phone_numbers"] == []
    assert app_client.post(f"/api/v2/callrouters/{rid}/assign_number", json={}).json()["number"] == n


def test_unassign_with_release_takes_the_number_out_of_the_company(app_client):
    rid = create(app_client)["id"]
    n = app_client.post(f"/api/v2/callrouters/{rid}/assign_number", json={}).json()["number"]
    r = app_client.delete(f"/api/v2/numbers/{n}", params={"release": "true"})
    assert r.status_code == 200 and r.json()["deleted"] is True
    error_of(app_client.get(f"/api/v2/numbers/{n}"), 404)
    assert n not in [x["number"] for x in all_numbers(app_client)]


def test_unassign_errors(app_client):
    error_of(app_client.delete("/api/v2/numbers/+19995550000"), 404)
    main_line = OFFICES[0]["phone_numbers"][0]
    assert "main line" in error_of(app_client.delete(f"/api/v2/numbers/{main_line}"), 400)
    assert app_client.get(f"/api/v2/numbers/{main_line}").json()["status"] == "office"
    assert "release" in error_of(app_client.delete(f"/api/v2/numbers/{RESERVED_POOL[0]}?release=maybe"), 400)


# --------------------------------------------------------------------------- directory


@pytest.mark.parametrize(
    ("kind", "entries"),
    [("offices", OFFICES), ("users", USERS), ("departments", DEPARTMENTS), ("callcenters", CALLCENTERS)],
)
def test_directory_lists_and_gets(app_client_factory, kind, entries):
    client = app_client_factory(page_size=5)
    pages = collect(client, f"/api/v2/{kind}")
    got = [e for p in pages for e in p["items"]]
    assert [e["id"] for e in got] == [e["id"] for e in entries]
    assert got[0]["name" if kind != "users" else "display_name"]
    assert client.get(f"/api/v2/{kind}/{entries[-1]['id']}").json()["id"] == entries[-1]["id"]
    error_of(client.get(f"/api/v2/{kind}/12345"), 404)


def test_offices_carry_the_admin_email(app_client):
    office = app_client.get(f"/api/v2/offices/{SF}").json()
    assert office["admin_email"] == "ops-admin@harborpine.example"
    assert office["office_id"] == SF


@pytest.mark.parametrize("kind", ["users", "departments", "callcenters"])
def test_directory_office_filter(app_client, kind):
    items = collect(app_client, f"/api/v2/{kind}", {"office_id": SEA})
    got = [e for p in items for e in p["items"]]
    assert got and all(e["office_id"] == SEA for e in got)


# --------------------------------------------------------------------------- id_format


def test_string_id_format_emits_ids_as_strings(app_client_factory):
    client = app_client_factory(id_format="string")
    router = create(client, office_id=str(SF), default_target_id=str(SALES))
    assert isinstance(router["id"], str) and router["office_id"] == str(SF)
    assert router["default_target_id"] == str(SALES)
    number = client.post(f"/api/v2/callrouters/{router['id']}/assign_number", json={}).json()
    assert number["target_id"] == router["id"] and number["company_id"].isdigit()
    office = client.get(f"/api/v2/offices/{SF}").json()
    assert office["id"] == str(SF)
    listed = client.get("/api/v2/callrouters").json()["items"]
    assert listed == [client.get(f"/api/v2/callrouters/{router['id']}").json()]


def test_cursor_is_opaque_but_decodes_to_a_position(app_client_factory):
    client = app_client_factory(page_size=1)
    create(client)
    create(client)
    cursor = client.get("/api/v2/callrouters").json()["cursor"]
    assert decode_cursor("callrouters", cursor) == 1


def test_oversized_body_is_413_in_dialpads_shape(app_client_factory):
    client = app_client_factory(max_body_bytes=1000)
    r = client.post("/api/v2/callrouters", json=body(name="x" * 2000))
    assert "1000 bytes" in error_of(r, 413)
    chunks = iter([b'{"name": "', b"x" * 2000, b'"}'])  # streamed: no Content-Length
    r = client.post("/api/v2/callrouters", content=chunks)
    assert "content-length" not in r.request.headers
    assert "1000 bytes" in error_of(r, 413)
    assert client.get("/api/v2/callrouters").json() == {"items": []}


def test_secret_length_comes_from_the_policy(app_client_factory):
    client = app_client_factory(policy=DIALPAD.replace(min_secret_length=40))
    message = error_of(client.post("/api/v2/callrouters", json=body(secret="s" * 39)), 400)
    assert "at least 40" in message
    assert create(client, secret="s" * 40)["signature"]["secret"] == "s" * 40
