"""People see names, not 16-digit ids, and counts in words ("1 rule"), wherever the package
knows the name: router reprs after an update, the PATCH guard's message, the admin's email,
reprs of rule sets and directories."""

from __future__ import annotations

import httpx
import pytest

from dialpad_nb.core.clock import SimulatedClock
from dialpad_nb.core.directory import Directory
from dialpad_nb.core.errors import PatchGuardError
from dialpad_nb.core.models import DirectoryEntry
from dialpad_nb.core.wording import plural
from dialpad_nb.rules.ruleset import RuleSet
from dialpad_nb.samples.company import COMPANY, DEPARTMENTS, OFFICES
from dialpad_nb.sandbox.dispatch import Dispatcher
from dialpad_nb.sandbox.store import SandboxStore
from tests.helpers_client import SF, TIER1, make_client

T0 = 1_767_603_600_000  # 2026-01-05T09:00:00Z
RECEPTION = DEPARTMENTS[4]


def test_plural():
    assert [plural(n, "rule") for n in (0, 1, 2, 24_000)] == ["0 rules", "1 rule", "2 rules", "24,000 rules"]
    assert plural(1, "entry", "entries") == "1 entry" and plural(3, "entry", "entries") == "3 entries"


def test_rule_set_and_directory_reprs_count_in_words():
    one = RuleSet.from_text("rule,internal_number,target_id,target_type\nx,+14155550100,1,user\nd,,2,user\n")
    assert repr(one).startswith("RuleSet('matrix': 1 rule + default user:2")
    office = DirectoryEntry(id=1, type="office", name="HQ", office_id=1)
    assert repr(Directory((office,))) == "Directory(1 office, 0 departments, 0 callcenters, 0 users)"


def test_routers_from_a_client_that_knows_the_directory_show_names():
    client, _ = make_client()
    before = client.get_router(7001)  # the directory is not loaded yet: ids, as Dialpad sent them
    assert f"default_target=callcenter:{TIER1['id']}" in repr(before) and f"office_id={SF}" in repr(before)
    client.targets()  # loaded once (also by any call that names a target)
    office = f"{OFFICES[0]['name']} (office)"
    for router in (
        client.get_router(7001),
        client.update_router(7001, routing_url="https://ops.example/v2"),
        client.list_routers()[0],
    ):
        text = repr(router)
        assert f"office={office!r}" in text and "default_target='Support Tier 1 (callcenter)'" in text
        assert str(TIER1["id"]) not in text
        assert "Support Tier 1 (callcenter), id" in router._repr_html_()  # the id beside the name
    assert client.get_router(7001) == before  # names are display only: the router is the same


def test_the_patch_guard_names_the_router():
    client, _ = make_client(clock=SimulatedClock(T0))
    client.update_router(7001, enabled=False)
    with pytest.raises(PatchGuardError) as info:
        client.disable_router(7001)
    assert str(info.value).startswith("router 'Support line' was last updated at 2026-01-05 09:00:00 UTC")
    assert "7001" not in str(info.value)


def test_the_disable_email_names_the_office_and_the_default_target():
    store = SandboxStore(":memory:")
    refuse = httpx.MockTransport(lambda request: httpx.Response(500, text="boom"))
    dispatcher = Dispatcher(
        store, SimulatedClock(T0), directory=COMPANY.directory(), transport=refuse, deadline_s=1.0
    )
    try:
        router = store.create_router(
            {
                "name": "Main line",
                "routing_url": "http://endpoint.test/route",
                "office_id": OFFICES[0]["id"],
                "default_target_id": RECEPTION["id"],
                "default_target_type": "department",
                "secret": None,
                "enabled": True,
            },
            now_ms=T0,
        )
        number = store.assign_number(router["id"])["number"]
        for i in range(11):
            dispatcher.place_call(number, "+14155550123", at=T0 + i * 60_000)
        (mail,) = store.list_outbox()
    finally:
        dispatcher.close()
        store.close()
    body = mail["body"]
    assert f"call router 'Main line' (id {router['id']}) in {OFFICES[0]['name']} (office) had" in body
    assert "every call goes to its default target (Reception (department)) without a request" in body
    assert str(RECEPTION["id"]) not in body and str(OFFICES[0]["id"]) not in body
