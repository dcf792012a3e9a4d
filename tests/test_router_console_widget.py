"""The router console widget, driven through its public handlers (``.click()``, ``.value``)
against a real sandbox over loopback HTTP — no browser."""

from __future__ import annotations

import html

import pytest

from dialpad_nb.api.client import DialpadClient
from dialpad_nb.api.console import RouterConsole
from dialpad_nb.widgets import RouterConsoleWidget, router_console

pytestmark = pytest.mark.http

SECRET = "w" * 40


def client_for(server, **kw) -> DialpadClient:
    kw.setdefault("sleep", lambda s: None)
    return DialpadClient(base_url=server.url, api_key=server.api_key, clock=server.clock, **kw)


@pytest.fixture
def client(sandbox):
    with client_for(sandbox) as c:
        yield c


@pytest.fixture
def widget(client):
    return router_console(client)


def status(widget: RouterConsoleWidget) -> str:
    return html.unescape(widget.status_line.value)


def fill_create(widget: RouterConsoleWidget, **values) -> None:
    form = {"name": "Support", "routing_url": "https://ops.example/route", "default_target": "Support Tier 1"}
    for key, value in {**form, **values}.items():
        widget.create_fields[key].value = value


def everything_shown(widget: RouterConsoleWidget) -> str:
    texts = [widget.status_line.value, widget.table.value, widget.edit_warning.value, repr(widget)]
    texts += [label.value for label in [*widget.create_errors.values(), *widget.edit_errors.values()]]
    return "\n".join(texts)


def test_empty_console(widget):
    assert "No call routers yet" in widget.table.value
    assert "0 routers" in status(widget)
    assert widget.selected_id is None and widget.enable_button.disabled and widget.delete_button.disabled
    assert repr(widget) == "RouterConsoleWidget(0 routers)"
    assert widget.create_fields["secret"].placeholder == "≥ 32 characters, optional"  # Dialpad's minimum


def test_create_with_bad_fields_shows_inline_errors_and_creates_nothing(widget, client):
    fill_create(widget, name="", routing_url="ops.example", default_target="Suport Tier 1", secret="short")
    widget.create_button.click()
    assert "✗" in status(widget) and "4 field(s)" in status(widget)
    assert "required" in widget.create_errors["name"].value
    assert "http(s)" in widget.create_errors["routing_url"].value
    assert "did you mean" in widget.create_errors["default_target"].value
    assert "32" in widget.create_errors["secret"].value
    assert widget.create_errors["office"].value == ""
    assert client.list_routers() == []


def test_create_selects_the_new_router_and_shows_its_target_by_name(widget, client):
    fill_create(widget, secret=SECRET)
    widget.create_button.click()
    (router,) = client.list_routers()
    assert "✓ Created router" in status(widget)
    assert widget.selected_id == router.id and widget.selector.value == router.id
    assert "Support Tier 1 (callcenter)" in widget.table.value
    assert widget.create_fields["name"].value == "" and widget.create_fields["secret"].value == ""
    assert widget.edit_fields["routing_url"].value == "https://ops.example/route"
    assert widget.edit_fields["default_target"].value == "Support Tier 1"
    assert SECRET not in everything_shown(widget)
    assert repr(widget) == "RouterConsoleWidget(1 router, selected='Support')"


def test_assign_and_unassign_numbers(widget, client):
    fill_create(widget)
    widget.create_button.click()
    widget.area_code.value = "628"
    widget.assign_button.click()
    (number,) = client.get_router(widget.selected_id).phone_numbers
    assert widget.numbers.options == (number,)  # from the reserved pool first
    assert number in widget.table.value and widget.area_code.value == ""
    widget.numbers.value = number
    widget.unassign_button.click()
    assert "back in the company's reserved pool" in status(widget)
    assert client.get_router(widget.selected_id).phone_numbers == () and widget.numbers.options == ()
    assert widget.unassign_button.disabled


def test_a_new_number_is_selected_so_unassign_works_without_picking_it(widget, client):
    fill_create(widget)
    widget.create_button.click()
    widget.area_code.value = "628"
    widget.assign_button.click()
    (number,) = client.get_router(widget.selected_id).phone_numbers
    assert widget.numbers.value == number  # shown in the dropdown, not an empty box
    widget.unassign_button.click()
    assert f"Unassigned {number}" in status(widget)
    assert client.get_router(widget.selected_id).phone_numbers == ()


def test_edit_warns_about_the_lockout_then_sends_one_update(widget, client, sandbox):
    fill_create(widget, enabled=False)
    widget.create_button.click()
    widget.edit_fields["routing_url"].value = "https://ops.example/fixed"
    assert "is disabled" in widget.edit_warning.value and "tick" in widget.edit_warning.value
    widget.edit_fields["enabled"].value = True
    widget.edit_fields["reset_error_count"].value = True
    assert "disabled" not in widget.edit_warning.value
    widget.save_button.click()
    router = client.get_router(widget.selected_id)
    assert router.enabled and router.routing_url == "https://ops.example/fixed"
    assert "next update is allowed at 2026-01-05 09:05:00 UTC" in status(widget)
    assert "2026-01-05 09:05:00 UTC" in widget.table.value
    widget.disable_button.click()
    assert (
        "✗ router" in status(widget)
        and "Nothing was sent" in status(widget)
        and "Traceback" not in status(widget)
    )
    assert client.get_router(widget.selected_id).enabled
    sandbox.clock.advance(300)
    widget.disable_button.click()
    assert "✓ Disabled" in status(widget) and not client.get_router(widget.selected_id).enabled


def test_edit_field_errors_are_inline_and_keep_what_was_typed(widget, client):
    fill_create(widget)
    widget.create_button.click()
    widget.edit_fields["name"].value = "Support (renamed)"
    widget.edit_fields["routing_url"].value = "ftp://nope"
    widget.edit_fields["default_target"].value = "Nobody"
    widget.save_button.click()
    assert "http(s)" in widget.edit_errors["routing_url"].value
    assert "no target named" in widget.edit_errors["default_target"].value
    assert "2 field(s)" in status(widget)
    # every field still shows what was typed (the message quotes it), the bad ones are marked
    assert widget.edit_fields["routing_url"].value == "ftp://nope"
    assert widget.edit_fields["default_target"].value == "Nobody"
    assert widget.edit_fields["name"].value == "Support (renamed)"
    assert "dpnb-invalid" in widget.edit_fields["routing_url"]._dom_classes
    assert "dpnb-invalid" not in widget.edit_fields["name"]._dom_classes
    # fix them: one update sends everything, the marks go, the form shows the router as it is now
    widget.edit_fields["routing_url"].value = "https://ops.example/v2"
    widget.edit_fields["default_target"].value = "Support Tier 2"
    widget.save_button.click()
    assert "✓ Updated" in status(widget)
    router = client.get_router(widget.selected_id)
    assert (router.name, router.routing_url) == ("Support (renamed)", "https://ops.example/v2")
    assert widget.edit_errors["routing_url"].value == ""
    assert "dpnb-invalid" not in widget.edit_fields["routing_url"]._dom_classes
    assert widget.edit_fields["default_target"].value == "Support Tier 2"


def test_a_refused_action_does_not_throw_away_an_unsaved_edit(widget, sandbox):
    fill_create(widget)
    widget.create_button.click()
    widget.disable_button.click()  # the one update of the next 5 minutes
    widget.edit_fields["routing_url"].value = "https://ops.example/typed"
    widget.enable_button.click()  # refused by the PATCH guard
    assert "✗ router 'Support' was last updated" in status(widget)  # by name, not id
    assert widget.edit_fields["routing_url"].value == "https://ops.example/typed"


def test_enable_reset_buttons(widget, client, sandbox):
    fill_create(widget, enabled=False)
    widget.create_button.click()
    widget.enable_reset_button.click()
    assert "error count reset" in status(widget) and client.get_router(widget.selected_id).enabled
    sandbox.clock.advance(300)
    widget.reset_button.click()
    assert "✓ Reset the error count" in status(widget)


def test_selecting_a_router_fills_the_forms(widget):
    fill_create(widget, name="First")
    widget.create_button.click()
    first = widget.selected_id
    fill_create(widget, name="Second", default_target="Lena Fischer")
    widget.create_button.click()
    assert (
        widget.edit_fields["name"].value == "Second"
        and widget.edit_fields["default_target"].value == "Lena Fischer"
    )
    widget.selector.value = first
    assert widget.selected_id == first and widget.edit_fields["name"].value == "First"


def test_delete_needs_the_typed_name(widget, client):
    fill_create(widget)
    widget.create_button.click()
    assert widget.delete_button.disabled
    widget.confirm.value = "suppor"
    widget.delete_button.click()  # a click that bypasses the disabled button is still refused
    assert "Not deleted" in status(widget) and len(client.list_routers()) == 1
    widget.confirm.value = "Support"
    assert not widget.delete_button.disabled
    widget.delete_button.click()
    assert "✓ Deleted router 'Support'" in status(widget)
    assert client.list_routers() == [] and widget.selected_id is None and widget.confirm.value == ""


def test_router_deleted_elsewhere_is_a_not_found_message(widget, client):
    fill_create(widget)
    widget.create_button.click()
    client.delete_router(widget.selected_id)
    widget.enable_button.click()
    assert "Not found (404" in status(widget)
    widget.refresh_button.click()
    assert widget.selected_id is None and "No call routers yet" in widget.table.value


def test_wrong_key_and_down_sandbox_show_in_the_status_line(sandbox):
    with DialpadClient(base_url=sandbox.url, api_key="wrong-key-123", sleep=lambda s: None) as wrong:
        widget = RouterConsoleWidget(RouterConsole(wrong))
        assert "The API key was refused (401" in status(widget)
    with client_for(sandbox, max_retries=0) as client:
        widget = router_console(client)
        sandbox.stop()
        widget.refresh_button.click()
        assert "connection refused" in status(widget) and "✗" in status(widget)
