"""Dialpad's official ``python-dialpad`` SDK, unchanged, against the sandbox over real HTTP."""

from __future__ import annotations

import pytest
import requests
from dialpad import DialpadClient

from dialpad_nb.samples.company import CALLCENTERS, DEPARTMENTS, OFFICES, USERS

pytestmark = pytest.mark.http

SF, SEA = OFFICES[0]["id"], OFFICES[1]["id"]
SECRET = "sdk-compat-secret-0123456789abcdefgh"


def router_body(name: str, office_id: int = SF, **extra) -> dict:
    return {
        "name": name,
        "routing_url": "https://ops.example/route",
        "office_id": office_id,
        "default_target_id": DEPARTMENTS[1]["id"],
        "default_target_type": "department",
        **extra,
    }


@pytest.fixture
def small_pages(sandbox_factory):
    return sandbox_factory(page_size=3)


@pytest.fixture
def dp(small_pages) -> DialpadClient:
    return DialpadClient(token=small_pages.api_key, base_url=small_pages.url)


def status_of(excinfo: pytest.ExceptionInfo) -> int:
    return excinfo.value.response.status_code


def test_router_lifecycle_through_the_sdk(dp, small_pages):
    created = dp.call_routers.create(router_body("SDK line", secret=SECRET))
    rid = created["id"]
    assert created["signature"] == {"type": "jwt", "algo": "HS256", "secret": SECRET}
    assert dp.call_routers.get(rid) == created

    updated = dp.call_routers.partial_update(
        str(rid), {"routing_url": "https://ops.example/v2", "enabled": False}
    )
    assert (updated["routing_url"], updated["enabled"]) == ("https://ops.example/v2", False)

    number = dp.call_routers.assign_number(rid, {"area_code": "415"})
    assert (number["status"], number["target_type"], number["target_id"]) == (
        "call_router",
        "callrouter",
        rid,
    )
    assert dp.numbers.get(number["number"]) == number
    assert dp.call_routers.get(rid)["phone_numbers"] == [number["number"]]

    deleted = dp.call_routers.delete(str(rid))
    assert deleted["id"] == rid
    assert dp.numbers.get(number["number"])["status"] == "available"
    with pytest.raises(requests.HTTPError) as err:
        dp.call_routers.get(rid)
    assert status_of(err) == 404


def test_list_follows_cursors_with_and_without_the_office_filter(dp):
    made = [dp.call_routers.create(router_body(f"r{i}", SEA if i % 3 == 0 else SF)) for i in range(8)]
    assert [r["id"] for r in dp.call_routers.list()] == [r["id"] for r in made]
    sea = [r["id"] for r in made if r["office_id"] == SEA]
    assert [r["id"] for r in dp.call_routers.list(office_id=SEA)] == sea
    sf = [r["id"] for r in dp.call_routers.list(office_id=SF)]
    assert len(sf) == 5 > 3  # more than one page of the filtered list


def test_numbers_and_directory_lists(dp):
    numbers = list(dp.numbers.list(status="available"))
    assert [n["status"] for n in numbers] == ["available"] * len(numbers) and len(numbers) == 4
    assert dp.numbers.unassign(numbers[0]["number"])["status"] == "available"
    assert [o["id"] for o in dp.offices.list()] == [o["id"] for o in OFFICES]
    assert dp.offices.get(SF)["admin_email"] == OFFICES[0]["admin_email"]
    assert [u["id"] for u in dp.users.list()] == [u["id"] for u in USERS]
    assert [d["id"] for d in dp.departments.list(office_id=SEA)] == [
        d["id"] for d in DEPARTMENTS if d["office_id"] == SEA
    ]
    assert [c["id"] for c in dp.call_centers.list()] == [c["id"] for c in CALLCENTERS]


def test_error_answers_reach_the_sdk_as_http_errors(dp, small_pages):
    with pytest.raises(requests.HTTPError) as err:
        dp.call_routers.get(404404)
    assert status_of(err) == 404
    assert err.value.response.json()["error"]["code"] == 404

    with pytest.raises(requests.HTTPError) as err:
        dp.call_routers.create({"name": "no url", "office_id": SF})
    assert status_of(err) == 400
    assert "routing_url" in err.value.response.json()["error"]["message"]

    wrong = DialpadClient(token="not-the-key", base_url=small_pages.url)
    with pytest.raises(requests.HTTPError) as err:
        list(wrong.call_routers.list())
    assert status_of(err) == 401

    rid = dp.call_routers.create(router_body("limited"))["id"]
    dp.call_routers.partial_update(str(rid), {"name": "first"})
    with pytest.raises(requests.HTTPError) as err:
        dp.call_routers.partial_update(str(rid), {"name": "second"})
    assert status_of(err) == 429
    assert err.value.response.headers["Retry-After"] == "300"

    small_pages.clock.advance(300)
    assert dp.call_routers.partial_update(str(rid), {"name": "second"})["name"] == "second"
