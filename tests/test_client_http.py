"""DialpadClient against a real sandbox over loopback HTTP: every call's success and
failure paths, pagination across pages, both id formats, the PATCH guard against
the sandbox's own 429, a wrong key, and a sandbox that is down."""

from __future__ import annotations

import socket

import pytest

from dialpad_nb.api.client import DialpadClient
from dialpad_nb.core.errors import (
    BadRequest,
    Conflict,
    NotFound,
    PatchGuardError,
    RateLimited,
    TransportError,
    Unauthorized,
)
from dialpad_nb.samples.company import CALLCENTERS, DEPARTMENTS, OFFICES, USERS

pytestmark = pytest.mark.http

SF, SEA = OFFICES[0]["id"], OFFICES[1]["id"]
SECRET = "k" * 40


def client_for(server, **kw) -> DialpadClient:
    kw.setdefault("sleep", lambda s: None)
    return DialpadClient(base_url=server.url, api_key=server.api_key, clock=server.clock, **kw)


def new_router(client: DialpadClient, name: str = "Support", **kw):
    kw.setdefault("default_target", "Support Tier 1")
    return client.create_router(name=name, routing_url="https://ops.example/route", **kw)


@pytest.fixture(params=["int", "string"])
def server(request, sandbox_factory):
    return sandbox_factory(id_format=request.param, page_size=2)


@pytest.fixture
def client(server):
    with client_for(server) as c:
        yield c


def test_router_lifecycle(client, server):
    router = new_router(client, secret=SECRET, enabled=False)
    assert router.name == "Support" and router.office_id == SF and not router.enabled and router.has_secret
    assert client.get_router(str(router.id)) == router
    number = client.assign_number(router.id, area_code="415")
    assert (
        number.status == "call_router"
        and number.target_id == router.id
        and number.target_type == "callrouter"
    )
    assert client.get_router(router.id).phone_numbers == (number.number,)
    assert client.get_number(number.number).target_id == router.id
    updated = client.update_router(
        router.id, routing_url="https://ops.example/v2", enabled=True, reset_error_count=True
    )
    assert updated.routing_url == "https://ops.example/v2" and updated.enabled
    client.delete_router(router.id)
    with pytest.raises(NotFound):
        client.get_router(router.id)
    assert client.get_number(number.number).status == "available"  # back in the reserved pool


def test_list_follows_cursors_across_pages_and_filters_by_office(client):
    made = [new_router(client, f"R{i}") for i in range(3)]
    made.append(new_router(client, "Seattle", default_target="After Hours"))
    assert sorted(r.id for r in client.list_routers()) == sorted(r.id for r in made)
    assert [r.name for r in client.list_routers(office_id=SEA)] == ["Seattle"]
    assert len(client.list_numbers()) >= 3  # the seeded pool spans pages of 2


def test_enable_disable(client):
    router = new_router(client)
    assert not client.disable_router(router.id).enabled
    client.clock.advance(300)
    assert client.enable_router(router.id, reset_error_count=True).enabled


def test_assign_a_given_number_then_conflict_and_unassign(client):
    a, b = new_router(client, "A"), new_router(client, "B")
    number = client.assign_number(a.id, area_code="206").number
    with pytest.raises(Conflict):
        client.assign_number(b.id, number=number)
    released = client.unassign_number(number)
    assert released.status == "available"
    assert client.assign_number(b.id, number=number).target_id == b.id
    assert client.list_numbers(status="call_router")[0].number == number


def test_bad_area_code_is_the_sandboxs_400(client):
    router = new_router(client)
    with pytest.raises(BadRequest, match="area_code"):
        client.assign_number(router.id, area_code="4155")


def test_unknown_target_id_is_the_sandboxs_400(client):
    with pytest.raises(BadRequest, match="default_target_id"):
        client.create_router(
            name="x",
            routing_url="https://ops.example/r",
            office_id=SF,
            default_target_id=1,
            default_target_type="user",
        )
    assert client.list_routers() == []  # nothing half-made


def test_unknown_router_and_number_are_not_found(client):
    for call in (
        lambda: client.get_router(424242),
        lambda: client.update_router(424242, name="x"),
        lambda: client.delete_router(424242),
        lambda: client.assign_number(424242, area_code="415"),
        lambda: client.get_number("+19995550000"),
        lambda: client.unassign_number("+19995550000"),
        lambda: client.get_office(1),
    ):
        with pytest.raises(NotFound) as info:
            call()
        assert info.value.status == 404 and info.value.message


def test_directory_offices_users_departments_callcenters(client):
    assert [o.id for o in client.list_offices()] == [SF, SEA]
    assert client.get_office(SF).admin_email == OFFICES[0]["admin_email"]
    assert len(client.list_users()) == len(USERS)
    assert {d.name for d in client.list_departments(SEA)} == {
        d["name"] for d in DEPARTMENTS if d["office_id"] == SEA
    }
    assert len(client.list_callcenters()) == len(CALLCENTERS)
    assert client.resolve_target("Lena Fischer").type == "user"
    assert len(client.targets()) == len(OFFICES) + len(DEPARTMENTS) + len(CALLCENTERS) + len(USERS)


def test_patch_guard_then_override_meets_the_sandboxs_429(client):
    router = new_router(client)
    client.update_router(router.id, routing_url="https://ops.example/new")
    with pytest.raises(PatchGuardError) as info:
        client.enable_router(router.id)
    assert "combine the URL change and the re-enable in one update" in str(info.value)
    with pytest.raises(RateLimited) as info:
        client.enable_router(router.id, override_patch_guard=True)
    assert info.value.retry_after_s == 300 and info.value.status == 429
    client.clock.advance(300)
    assert client.enable_router(router.id).enabled


def test_a_second_client_learns_the_window_from_the_429(server):
    with client_for(server) as first, client_for(server) as second:
        router = new_router(first)
        first.update_router(router.id, name="renamed")
        server.clock.advance(60)
        with pytest.raises(RateLimited) as info:
            second.update_router(router.id, name="again")
        assert info.value.retry_after_s == 240
        with pytest.raises(PatchGuardError, match="asked to wait"):
            second.update_router(router.id, name="again")


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.list_routers(),
        lambda c: c.get_router(1),
        lambda c: c.create_router(
            name="x",
            routing_url="https://ops.example/r",
            office_id=SF,
            default_target_id=1,
            default_target_type="user",
        ),
        lambda c: c.update_router(1, name="x"),
        lambda c: c.delete_router(1),
        lambda c: c.assign_number(1, area_code="415"),
        lambda c: c.list_numbers(),
        lambda c: c.get_number("+14155550100"),
        lambda c: c.unassign_number("+14155550100"),
        lambda c: c.list_offices(),
        lambda c: c.get_office(SF),
        lambda c: c.list_users(),
        lambda c: c.list_departments(),
        lambda c: c.list_callcenters(),
        lambda c: c.targets(),
    ],
)
def test_wrong_key_is_unauthorized_everywhere(sandbox, call):
    with (
        DialpadClient(base_url=sandbox.url, api_key="not-the-key", sleep=lambda s: None) as client,
        pytest.raises(Unauthorized) as info,
    ):
        call(client)
    assert info.value.status == 401 and "not-the-key" not in str(info.value)


def test_a_sandbox_that_is_down_is_a_readable_transport_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps: list[float] = []
    client = DialpadClient(
        base_url=f"http://127.0.0.1:{port}", api_key="k", sleep=sleeps.append, max_retries=2
    )
    with pytest.raises(TransportError) as info:
        client.list_routers()
    assert str(info.value).startswith(
        f"cannot reach the Dialpad API (or sandbox) at http://127.0.0.1:{port}:"
    )
    assert "connection refused" in str(info.value) and len(sleeps) == 2
    with pytest.raises(TransportError):
        client.create_router(
            name="x",
            routing_url="https://ops.example/r",
            office_id=SF,
            default_target_id=1,
            default_target_type="user",
        )
    assert len(sleeps) == 2  # a POST is not retried


def test_a_stopped_sandbox_is_a_transport_error(sandbox):
    with client_for(sandbox, max_retries=0) as client:
        client.list_offices()
        sandbox.stop()
        with pytest.raises(TransportError, match="connection refused"):
            client.list_offices()
