"""RouterConsole state and actions over MockTransport (the canned fake Dialpad):
results instead of tracebacks, inline field errors, one-update edits, confirmation."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from dialpad_nb.api.console import TABLE_COLUMNS, ActionResult, RouterConsole, describe_error
from dialpad_nb.core.clock import SimulatedClock
from dialpad_nb.core.errors import RateLimited, TransportError
from tests.helpers_client import SECRET, SF, TIER1, Recorder, error, fake_dialpad, make_client

GOOD_FORM = {
    "name": "Sales line",
    "routing_url": "https://ops.example/sales",
    "default_target": "Inbound Sales",
}


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def always_429(request: httpx.Request) -> httpx.Response:
    if request.method == "PATCH":
        return error(429, "router update rate limit", {"Retry-After": "300"})
    return fake_dialpad(request)


def refuse_create(request: httpx.Request) -> httpx.Response:
    if request.method == "POST":
        return error(400, "routing_url must be reachable")
    return fake_dialpad(request)


def bodies(rec: Recorder, method: str) -> list[dict]:
    return [json.loads(r.content) for r in rec.requests if r.method == method]


@pytest.fixture
def clock():
    return SimulatedClock("2026-01-05T09:00:00Z")


@pytest.fixture
def rec():
    return Recorder()


@pytest.fixture
def console(rec, clock):
    client, _ = make_client(rec, clock=clock)
    console = RouterConsole(client)
    assert console.refresh().ok
    return console


def test_table_shows_default_target_by_name_and_numbers(console):
    table = console.table()
    assert tuple(table.columns) == TABLE_COLUMNS
    support = table.set_index("name").loc["Support line"]
    assert support["default_target"] == "Support Tier 1 (callcenter)"
    assert (
        support["numbers"] == "+14155550123" and bool(support["signed"]) and support["next_update"] == "now"
    )
    assert table.set_index("name").loc["Returns line", "default_target"] == "Returns (department)"
    assert SECRET not in table.to_string()


def test_refresh_when_the_api_is_down_is_a_readable_result(clock):
    client, _ = make_client(refuse, clock=clock, max_retries=0)
    result = RouterConsole(client).refresh()
    assert not result.ok and "connection refused" in result.message and "Traceback" not in result.message


def test_listeners_are_told_after_each_action(console):
    seen = []
    console.on_change(lambda c: seen.append(c.last_result))
    console.disable(7001)
    assert len(seen) == 1 and seen[0].ok


def test_create_sends_the_resolved_target_and_office(console, rec):
    result = console.create({**GOOD_FORM, "secret": SECRET, "enabled": False})
    assert result.ok, result
    assert "Created router 'Sales line'" in result.message and "Inbound Sales (callcenter)" in result.message
    (body,) = bodies(rec, "POST")
    assert (
        body["default_target_type"] == "callcenter" and body["office_id"] == SF and body["enabled"] is False
    )
    assert SECRET not in result.message


def test_create_with_an_explicit_office_by_name(console, rec):
    assert console.create({**GOOD_FORM, "office": "Harbor & Pine — Seattle"}).ok
    assert bodies(rec, "POST")[0]["office_id"] != SF


def test_create_reports_every_bad_field_inline_and_sends_nothing(console, rec):
    form = {
        "name": "",
        "routing_url": "ops.example",
        "default_target": "Suport Tier 1",
        "secret": "short",
        "x": 1,
    }
    result = console.create(form)
    assert not result.ok and "5 field(s)" in result.message
    assert set(result.field_errors) == {"name", "routing_url", "default_target", "secret", "x"}
    assert "did you mean 'Support Tier 1'" in result.field_errors["default_target"]
    assert "32" in result.field_errors["secret"]
    assert bodies(rec, "POST") == []
    assert console.validate_form(GOOD_FORM) == {}
    assert "required" in console.validate_form({**GOOD_FORM, "default_target": ""})["default_target"]


def test_create_refused_by_dialpad_is_a_message(clock):
    client, _ = make_client(refuse_create, clock=clock)
    console = RouterConsole(client)
    console.refresh()
    result = console.create(GOOD_FORM)
    assert not result.ok and result.message == "Dialpad answered 400: routing_url must be reachable."


def test_edit_sends_url_enable_and_reset_in_one_update(console, rec):
    result = console.edit(
        7002,
        {"routing_url": "https://ops.example/fixed", "enabled": True, "reset_error_count": True, "name": ""},
    )
    assert result.ok, result
    assert bodies(rec, "PATCH") == [
        {"routing_url": "https://ops.example/fixed", "enabled": True, "reset_error_count": True}
    ]
    assert "next update is allowed at 2026-01-05 09:05:00 UTC" in result.message
    assert console.table().set_index("id").loc[7002, "next_update"] == "2026-01-05 09:05:00 UTC"


def test_edit_drops_unchanged_fields_and_refuses_a_no_op(console, rec):
    result = console.edit(7001, {"name": "Support line", "enabled": True, "routing_url": ""})
    assert not result.ok and "Nothing to change" in result.message and bodies(rec, "PATCH") == []


def test_edit_by_target_name_and_field_errors(console, rec):
    assert console.edit(7001, {"default_target": "Lena Fischer"}).ok
    assert bodies(rec, "PATCH")[0]["default_target_type"] == "user"
    bad = console.edit(7002, {"routing_url": "nope", "secret": "x", "enabled": "yes", "office_id": 1})
    assert set(bad.field_errors) == {"routing_url", "secret", "enabled", "office_id"} and not bad.ok


def test_check_edit_warns_about_the_lockout_before_sending(console):
    warning = console.check_edit(7002, {"routing_url": "https://ops.example/fixed"})
    assert "disabled" in warning and "tick 'enabled'" in warning
    together = console.check_edit(7002, {"routing_url": "https://ops.example/fixed", "enabled": True})
    assert "one update per 5 min" in together and "disabled" not in together
    assert console.check_edit(7002, {}) is None


def test_url_change_leaving_the_router_disabled_says_so(console):
    result = console.edit(7002, {"routing_url": "https://ops.example/fixed"})
    assert result.ok and "still disabled" in result.message


def test_second_update_meets_the_patch_guard_as_a_message(console, rec, clock):
    assert console.edit(7002, {"routing_url": "https://ops.example/fixed"}).ok
    result = console.enable(7002)
    assert (
        not result.ok
        and result.message.startswith("router 'Returns line' was last updated")  # its name, not 7002
        and "Nothing was sent" in result.message
    )
    assert "combine the URL change and the re-enable in one update" in result.message
    assert len(bodies(rec, "PATCH")) == 1
    clock.advance(300)
    assert console.enable(7002, reset_error_count=True).ok


def test_enable_disable_reset_send_the_right_fields(console, rec, clock):
    assert "errors of the past hour kept" in console.enable(7002).message
    clock.advance(300)
    assert console.disable(7002).ok
    clock.advance(300)
    assert console.reset_error_count(7002).ok
    assert bodies(rec, "PATCH") == [{"enabled": True}, {"enabled": False}, {"reset_error_count": True}]


def test_dialpad_429_becomes_a_message_with_retry_after(clock):
    client, _ = make_client(always_429, clock=clock)
    console = RouterConsole(client)
    console.refresh()
    result = console.disable(7001)
    assert (
        not result.ok
        and result.message == "Dialpad's rate limit (429: router update rate limit). Retry after 300 s."
    )


def test_unknown_router_is_a_not_found_message(console):
    for result in (console.enable(4242), console.edit(4242, {"name": "x"}), console.delete(4242, "x")):
        assert not result.ok and "Not found (404" in result.message


def test_assign_and_unassign(console, rec):
    result = console.assign_number(7001, area_code="628")
    assert result.ok and result.message == "Assigned +16285550177 to router 'Support line'."
    assert bodies(rec, "POST")[-1] == {"area_code": "628", "primary": True}
    bad = console.assign_number(7001, area_code="abc")
    assert not bad.ok and "area_code" in bad.field_errors
    assert console.unassign("+14155550123").ok
    missing = console.unassign("+14155550000")
    assert not missing.ok and "Not found" in missing.message


def test_delete_needs_the_exact_name(console, rec):
    refused = console.delete(7001, confirm="support")
    assert not refused.ok and refused.field_errors == {"confirm": "must be exactly 'Support line'"}
    assert [r for r in rec.requests if r.method == "DELETE"] == []
    result = console.delete("7001", confirm="Support line")
    assert result.ok and "+14155550123 back in the reserved pool" in result.message


def test_action_result_html_escapes():
    html = ActionResult(False, "<b>x</b>", {"name": "<i>"})._repr_html_()
    assert "<b>x</b>" not in html and "&lt;b&gt;" in html and "✗" in html


def test_describe_error_for_transport_and_rate_limit():
    assert describe_error(
        TransportError("cannot reach the sandbox at http://h: connection refused")
    ).endswith("connection refused.")
    assert "Retry after 2 s" in describe_error(RateLimited("slow", retry_after_s=2, status=429))


def test_target_name_falls_back_before_refresh(rec, clock):
    client, _ = make_client(rec, clock=clock)
    console = RouterConsole(client)
    router = client.get_router(7001)
    assert console.target_name(router) == f"callcenter {TIER1['id']}"


def test_the_console_imports_no_widgets():
    code = "import sys, dialpad_nb.api.console, dialpad_nb.connection; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_router_counts_are_pluralised():
    from dialpad_nb.api.console import count_routers

    assert [count_routers(n) for n in (0, 1, 2)] == ["0 routers", "1 router", "2 routers"]


def test_patch_guard_shown_to_ops_without_the_code_only_override():
    from datetime import UTC, datetime

    from dialpad_nb.core.errors import PatchGuardError

    exc = PatchGuardError(
        "Next update at 09:05. Nothing was sent.",
        router_id=1,
        next_allowed=datetime(2026, 1, 5, 9, 5, tzinfo=UTC),
        code_hint="Pass override_patch_guard=True to send anyway.",
    )
    assert "override_patch_guard" in str(exc)  # code sees the way out
    assert describe_error(exc) == "Next update at 09:05. Nothing was sent."  # the widget does not
