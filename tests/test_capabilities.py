"""Capabilities, not assumptions: what a client talks to (embedded sandbox, a sandbox served elsewhere,
a Dialpad account), the sandbox-only features refused on an account with what to do instead, the
look-only client (nothing that changes an account is sent), a 403 in words, the fleet and a router
by name, the real wait for the PATCH window, the account stand-in and the notebooks' cell magics."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from dialpad_nb import connect
from dialpad_nb.api.capabilities import ACCOUNT, EMBEDDED_SANDBOX, SANDBOX, Capabilities, RemoteClock
from dialpad_nb.api.client import DialpadClient
from dialpad_nb.api.console import RouterConsole
from dialpad_nb.api.fleet import FLEET_COLUMNS
from dialpad_nb.core.clock import SimulatedClock, SystemClock
from dialpad_nb.core.errors import (
    ChangesNotAllowed,
    Forbidden,
    PatchGuardError,
    SandboxOnly,
    TransportError,
    ValidationError,
)
from dialpad_nb.core.policy import API_OPERATIONS
from dialpad_nb.sandbox import create_app
from tests.helpers_account import ACCOUNT_KEY, SALES, SUPPORT, make_account_db, serve_account
from tests.helpers_client import BASE, KEY, Recorder, error, fake_dialpad, make_client

PROBE = ("GET", "/sandbox/v1/clock")


def not_a_sandbox(request: httpx.Request) -> httpx.Response:
    """fake_dialpad, plus the answer Dialpad gives to the sandbox's control API: there is none."""
    if request.url.path.startswith("/sandbox/v1"):
        return error(404, f"no such endpoint: {request.url.path}")
    return fake_dialpad(request)


def sent(recorder: Recorder) -> list[tuple[str, str]]:
    return [(r.method, r.url.path) for r in recorder.requests]


# --------------------------------------------------------------------------- what it talks to


@pytest.mark.http
def test_the_embedded_sandbox_is_known_without_asking_and_always_allows_changes():
    client = connect({}, allow_changes=False)
    try:
        caps = client.capabilities
        assert caps == Capabilities(EMBEDDED_SANDBOX, True, True, client.base_url)
        assert client.kind == EMBEDDED_SANDBOX and client.is_sandbox and client.may_change
        assert (
            str(caps)
            == f"an embedded sandbox at {client.base_url} (control API (/sandbox/v1), simulated clock)"
        )
        router = client.create_router(
            name="A", routing_url="https://ops.example/r", default_target="Reception"
        )
        assert client.find_router("a").id == router.id  # the sandbox demonstrates everything
    finally:
        client.close()


def test_dialpads_own_hosts_are_never_asked():
    def nothing(request):  # pragma: no cover - nothing may be sent
        raise AssertionError(f"sent {request.method} {request.url}")

    for base_url in ("https://dialpad.com", "https://sandbox.dialpad.com/"):
        client = DialpadClient(base_url=base_url, api_key=KEY, transport=httpx.MockTransport(nothing))
        assert client.capabilities == Capabilities(ACCOUNT, False, False, base_url.rstrip("/"))
        assert not client.is_sandbox and client.may_change  # allow_changes defaults to True for code


def test_another_server_is_asked_once_and_the_answer_is_kept():
    recorder = Recorder(not_a_sandbox)
    client, _ = make_client(recorder, allow_changes=False)
    assert (client.kind, client.is_sandbox, client.may_change) == (ACCOUNT, False, False)
    client.list_routers()
    assert client.capabilities.kind == ACCOUNT
    assert sent(recorder).count(PROBE) == 1


@pytest.mark.parametrize(
    "answer",
    [
        error(401, "invalid API key"),
        error(403, "Forbidden"),
        error(500, "oops"),
        httpx.Response(302, headers={"location": "https://login.example/"}),
        httpx.Response(200, text="<html>welcome</html>"),
        httpx.Response(200, json={"time": 1}),
    ],
    ids=["401", "403", "500", "redirect", "html", "not-the-clock"],
)
def test_any_answer_but_the_sandboxs_clock_means_no_control_api(answer):
    client, _ = make_client(lambda request: answer, max_retries=0)
    assert client.capabilities.kind == ACCOUNT and not client.capabilities.control_api


def test_a_server_that_cannot_be_reached_fails_connect_clearly():
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    environ = {"DIALPAD_API_KEY": KEY, "DIALPAD_BASE_URL": "https://nowhere.example"}
    with pytest.raises(
        TransportError, match="cannot reach .* at https://nowhere.example: connection refused"
    ) as info:
        connect(environ, transport=httpx.MockTransport(refuse), max_retries=0)
    assert KEY not in str(info.value)


@pytest.mark.http
def test_a_sandbox_served_elsewhere_is_a_sandbox_and_the_client_runs_on_its_clock(sandbox_factory):
    server = sandbox_factory(api_key=ACCOUNT_KEY)  # a dialpad-nb sandbox: simulated clock at 2026-01-05 09:00
    environ = {"DIALPAD_API_KEY": ACCOUNT_KEY, "DIALPAD_BASE_URL": server.url}
    with connect(environ, allow_changes=False) as client:
        assert client.capabilities == Capabilities(SANDBOX, True, True, server.url)
        assert repr(client) == f"DialpadClient(<sandbox at {server.url}>)" and client.may_change
        assert isinstance(client.clock, RemoteClock) and client.clock.now_ms() == server.clock.now_ms()
        router = client.create_router(
            name="A", routing_url="https://ops.example/r", default_target="Reception"
        )
        client.update_router(router.id, name="B")
        with pytest.raises(PatchGuardError, match="2026-01-05 09:05:00 UTC"):
            client.update_router(router.id, name="C")
        assert client.wait_for_update(router) == server.clock.now_ms() == 1_767_603_900_000  # 09:05:00
        assert client.update_router(router.id, name="C").name == "C"
        assert client.control.attempts().empty  # its control API


@pytest.mark.http
def test_a_sandbox_on_the_system_clock_keeps_the_clients_own(sandbox_factory):
    server = sandbox_factory(api_key=ACCOUNT_KEY, clock=SystemClock())
    with connect({"DIALPAD_API_KEY": ACCOUNT_KEY, "DIALPAD_BASE_URL": server.url}) as client:
        assert client.capabilities == Capabilities(SANDBOX, True, False, server.url)
        assert isinstance(client.clock, SystemClock)


@pytest.mark.http
def test_the_history_demo_on_a_sandbox_whose_clock_is_past_it_tells_the_story_weeks_later(sandbox_factory):
    from dialpad_nb.samples import make_call_history

    server = sandbox_factory(api_key=ACCOUNT_KEY, clock=SimulatedClock("2026-12-01T00:00:00Z"))
    with connect({"DIALPAD_API_KEY": ACCOUNT_KEY, "DIALPAD_BASE_URL": server.url}) as client:
        demo = make_call_history(client, lambda request: None, calls=60)
        try:
            assert demo.phases["phase"].tolist()[:2] == ["healthy", "failing (503)"]
            assert demo.phases["from"].iloc[0].startswith("Mon 07 Dec")  # Monday 5 Oct + 9 weeks
            failing = demo.phases.iloc[1]  # the incident, at the same local time of the same weekday
            assert failing["from"] == "Wed 09 Dec 13:00 PST" and failing["calls"] > 0 and failing["ok"] == 0
            calls = client.calls(demo.router, progress=False)
            assert len(calls) == 60 and calls["date_started"].min() >= pd.Timestamp("2026-12-01", tz="UTC")
        finally:
            demo.stop()


# --------------------------------------------------------------------------- the account stand-in


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    return make_account_db(tmp_path_factory.mktemp("account"))


@pytest.mark.http
def test_the_stand_in_has_no_control_api_and_serves_what_a_sandbox_put_in(account):
    with serve_account(account.db_path) as (served, recorder):
        headers = {"Authorization": f"Bearer {ACCOUNT_KEY}"}
        for method, path in [("GET", "/sandbox/v1/clock"), ("POST", "/sandbox/v1/clock"), ("POST", "/sandbox/v1/calls"),
                             ("GET", "/sandbox/v1/attempts"), ("GET", "/sandbox/v1/outbox"), ("GET", "/sandbox/v1/deliveries")]:  # fmt: skip
            answer = httpx.request(method, served.url + path, headers=headers, json={}, timeout=10)
            assert answer.status_code == 404, (method, path)
            assert answer.json()["error"]["message"] == f"no such endpoint: {path}"
        assert isinstance(recorder.state.sandbox.clock, SystemClock)
        asked = len(recorder.seen)
        environ = {"DIALPAD_API_KEY": ACCOUNT_KEY, "DIALPAD_BASE_URL": served.url}
        with connect(environ, allow_changes=False) as client:
            assert client.kind == ACCOUNT
            assert repr(client) == f"DialpadClient(<Dialpad account at {served.url}>)"
            assert client.fleet().names == [SALES, SUPPORT]
            calls = client.calls(SUPPORT, progress=False)  # 20 good calls, 11 errors, 3 skipped
            assert len(calls) == 34 and calls["response_error"].notna().sum() == 11
            with pytest.raises(SandboxOnly, match="has no control API"):
                client.control  # noqa: B018
            with pytest.raises(SandboxOnly, match="wait_for_update"):
                client.clock.advance(300)
        assert {method for method, _, _ in recorder.seen[asked:]} == {"GET"}


def test_the_stand_in_only_knows_scopes_dialpad_names():
    with pytest.raises(
        ValidationError, match="unknown scope.*'calls:read'.*known: \\['calls:list'\\]"
    ) as info:
        create_app(api_key="k", as_account=True, without_scopes={"calls:read"})
    assert info.value.field == "without_scopes"


@pytest.mark.http
def test_a_key_without_the_calls_list_scope_gets_a_403_explained_in_words(account):
    with serve_account(account.db_path, without_scopes="calls:list") as (served, _):
        with connect({"DIALPAD_API_KEY": ACCOUNT_KEY, "DIALPAD_BASE_URL": served.url}) as client:
            assert client.find_router(SUPPORT).name == SUPPORT  # everything else still works
            with pytest.raises(Forbidden) as info:
                client.calls(SUPPORT, progress=False)
            assert "this key cannot list calls: it needs the calls:list scope" in str(info.value)
            assert info.value.status == 403 and ACCOUNT_KEY not in str(info.value)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda c: c.calls(7001, progress=False, page_retries=0), "this key cannot list calls: it needs the calls:list scope (on a company admin API key)"),
        (lambda c: c.list_numbers(), "this key cannot list numbers: it needs to be a company admin API key"),
        (lambda c: c.delete_router(7001), "this key cannot delete a call router: Dialpad's reference names no scope"),
    ],
    ids=["call.list", "numbers.list", "callrouters.delete"],
)  # fmt: skip
def test_every_403_says_what_the_key_cannot_do_and_what_it_needs(call, words):
    client, _ = make_client(lambda request: error(403, "Forbidden"))
    with pytest.raises(Forbidden) as info:
        call(client)
    assert words in str(info.value) and "The server said: Forbidden" in str(info.value)


# --------------------------------------------------------------------------- sandbox only, look only


def test_sandbox_only_features_say_what_to_do_on_an_account_instead():
    client, _ = make_client(not_a_sandbox)
    with pytest.raises(SandboxOnly) as info:
        client.control  # noqa: B018
    message = str(info.value)
    for instead in (
        "client.calls(router)",
        "read_endpoint_log",
        "office admin",
        "wait_for_update",
        "receiver",
    ):
        assert instead in message
    with pytest.raises(SandboxOnly, match="cannot be moved"):
        SystemClock().advance(300)
    with pytest.raises(SandboxOnly, match="cannot be moved"):
        SystemClock().set("2026-01-05T09:00:00Z")


CHANGES = {
    "create_router": lambda c: c.create_router(name="A", routing_url="https://ops.example/r", office_id=1,
                                               default_target_id=2, default_target_type="department"),
    "update_router": lambda c: c.update_router(7001, name="x"),
    "enable_router": lambda c: c.enable_router(7001),
    "disable_router": lambda c: c.disable_router(7001),
    "delete_router": lambda c: c.delete_router(7001),
    "assign_number": lambda c: c.assign_number(7001, area_code="415"),
    "unassign_number": lambda c: c.unassign_number("+14155550123"),
    "create_webhook": lambda c: c.create_webhook("https://ops.example/events"),
    "update_webhook": lambda c: c.update_webhook(5300000000000001, hook_url="https://ops.example/v2"),
    "delete_webhook": lambda c: c.delete_webhook(5300000000000001),
    "create_call_subscription": lambda c: c.create_call_subscription(5300000000000001, router=7001),
    "update_call_subscription": lambda c: c.update_call_subscription(5400000000000001, enabled=False),
    "delete_call_subscription": lambda c: c.delete_call_subscription(5400000000000001),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_a_look_only_client_sends_nothing_that_changes_an_account(name):
    recorder = Recorder(not_a_sandbox)
    client, _ = make_client(recorder, allow_changes=False)
    with pytest.raises(ChangesNotAllowed) as info:
        CHANGES[name](client)
    assert sent(recorder) == [PROBE]  # only the question "is this a sandbox?"
    error_ = info.value
    assert error_.method in ("POST", "PATCH", "DELETE") and error_.path.startswith("/api/v2/")
    assert error_.action and error_.action in str(error_) and "ALLOW_CHANGES" in str(error_)
    assert KEY not in str(error_)


def test_a_look_only_client_reads_and_every_change_it_refuses_is_a_listed_operation():
    recorder = Recorder(not_a_sandbox)
    client, _ = make_client(recorder, allow_changes=False)
    assert [r.name for r in client.list_routers()] == ["Support line", "Returns line"]
    assert all(method == "GET" for method, _ in sent(recorder))
    changing = {key.split(" ", 1)[0] for key, need in API_OPERATIONS.items() if need.changes}
    assert changing == {"POST", "PATCH", "DELETE"}
    allowed, _ = make_client(not_a_sandbox)  # the default for code: changes allowed
    assert allowed.update_router(7001, name="x").name == "x"


def test_the_router_console_on_a_look_only_client_changes_nothing_and_says_so():
    recorder = Recorder(not_a_sandbox)
    client, _ = make_client(recorder, allow_changes=False)
    result = RouterConsole(client).disable(7001)
    assert not result.ok and "not sent" in result.message and "ALLOW_CHANGES" in result.message
    assert all(method == "GET" for method, _ in sent(recorder))


# --------------------------------------------------------------------------- the fleet, a router by name


@pytest.mark.http
def test_an_account_with_no_routers_is_an_empty_fleet_not_an_error():
    with connect({}) as client:
        fleet = client.fleet()
        assert len(fleet) == 0 and list(fleet.frame.columns) == list(FLEET_COLUMNS) and fleet.frame.empty
        assert repr(fleet) == f"No call routers at {client.label} yet."
        assert "No call routers" in fleet._repr_html_()
        assert client.find_router() is None
        with pytest.raises(ValidationError, match="has no call routers yet"):
            client.find_router(required=True)
        with pytest.raises(ValidationError, match="no call router named 'Support'.*has no call routers"):
            client.find_router("Support")


def test_the_fleet_shows_names_and_a_name_that_is_no_routers_lists_the_names():
    client, _ = make_client()
    fleet = client.fleet()
    assert fleet.names == ["Returns line", "Support line"]  # by name
    row = fleet.frame.iloc[1].to_dict()
    assert (
        row["office"].startswith("Harbor & Pine — San Francisco")
        and row["default_target"] == "Support Tier 1 (callcenter)"
    )
    assert repr(fleet).startswith("2 call routers at <https://dialpad.test>, 1 disabled:")
    assert client.find_router().name == "Returns line" and client.find_router("SUPPORT LINE").id == 7001
    assert client.find_router("7002").name == "Returns line"  # an id
    with pytest.raises(ValidationError) as info:
        client.find_router("Front desk")
    assert (
        str(info.value)
        == "router: no call router named 'Front desk'. The routers at <https://dialpad.test>: 'Returns line', 'Support line'"
    )
    with pytest.raises(ValidationError, match="not a router name or id"):
        client.find_router(True)


def test_a_name_two_routers_share_asks_for_the_id():
    def twins(request):
        if request.url.path == "/api/v2/callrouters":
            items = [{"id": str(i), "name": "Twin", "routing_url": "https://x.example", "office_id": "1",
                      "default_target_id": "2", "default_target_type": "department"} for i in (7001, 7002)]  # fmt: skip
            return httpx.Response(200, json={"items": items})
        return fake_dialpad(request)

    client, _ = make_client(twins)
    with pytest.raises(ValidationError, match=r"2 routers are named 'twin' \(ids 7001, 7002\); give the id"):
        client.find_router("twin")


def test_a_routing_url_query_never_shows_in_the_fleet():
    def secret_url(request):
        if request.url.path == "/api/v2/callrouters":
            item = {"id": "7001", "name": "A", "routing_url": "https://x.example/r?token=hush", "office_id": "1",
                    "default_target_id": "2", "default_target_type": "department"}  # fmt: skip
            return httpx.Response(200, json={"items": [item]})
        return fake_dialpad(request)

    client, _ = make_client(secret_url)
    fleet = client.fleet()
    assert "hush" not in repr(fleet) and "hush" not in fleet._repr_html_()


# --------------------------------------------------------------------------- the PATCH window, really waited


def test_on_an_account_wait_for_update_waits_the_real_time_and_the_update_then_goes():
    clock = SimulatedClock()  # stands for the wall clock; only the client's sleep moves it
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    recorder = Recorder(not_a_sandbox)
    client = DialpadClient(base_url=BASE, api_key=KEY, transport=httpx.MockTransport(recorder), clock=clock,
                           sleep=sleep, rate_limits=False)  # fmt: skip
    assert client.wait_for_update(7001) == clock.now_ms() and slept == []  # nothing to wait for
    client.update_router(7001, name="x")
    with pytest.raises(PatchGuardError):
        client.disable_router(7001)
    assert client.wait_for_update(7001, progress=False) == 1_767_603_900_000  # 09:05:00, five minutes later
    assert sum(slept) == 300 and max(slept) <= 1
    assert client.disable_router(7001).enabled is False
    assert ("POST", "/sandbox/v1/clock") not in sent(recorder)  # an account's clock is not moved


# --------------------------------------------------------------------------- the notebooks' cell magics


class FakeClient:
    def __init__(self, *, is_sandbox: bool, may_change: bool) -> None:
        self.is_sandbox, self.may_change, self.label = (
            is_sandbox,
            may_change,
            "<Dialpad account at https://x>",
        )


@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_cell("%load_ext dialpad_nb", store_history=False)
    yield ip
    InteractiveShell.clear_instance()


def test_a_sandbox_only_cell_runs_as_written_on_a_sandbox_and_says_why_not_elsewhere(shell, capsys):
    shell.user_ns["client"] = FakeClient(is_sandbox=True, may_change=True)
    result = shell.run_cell("%%sandbox_only\nx = 41\nx + 1", store_history=False)
    assert result.result == 42 and shell.user_ns["x"] == 41
    assert shell.run_cell("%%sandbox_only\nx + 1;", store_history=False).result is None  # ; hides it
    assert isinstance(
        shell.run_cell("%%sandbox_only\n1 / 0", store_history=False).error_in_exec, ZeroDivisionError
    )
    capsys.readouterr()
    shell.user_ns["client"] = FakeClient(is_sandbox=False, may_change=True)
    result = shell.run_cell("%%sandbox_only places calls\nx = 0", store_history=False)
    assert result.result is None and shell.user_ns["x"] == 41
    assert capsys.readouterr().out == (
        "[sandbox only] not run on <Dialpad account at https://x> (places calls): a Dialpad account has no control API.\n"
    )


def test_a_changes_cell_runs_only_when_changes_are_allowed_and_else_says_what_it_would_do(shell, capsys):
    shell.user_ns["client"] = FakeClient(is_sandbox=False, may_change=False)
    assert shell.run_cell("%%changes delete the router\ny = 1", store_history=False).result is None
    assert "y" not in shell.user_ns
    assert capsys.readouterr().out == (
        "[look only] not run: it would delete the router. Nothing was changed on <Dialpad account at https://x> "
        "(ALLOW_CHANGES = False in the parameters cell).\n"
    )
    shell.user_ns["client"] = FakeClient(is_sandbox=False, may_change=True)
    assert shell.run_cell("%%changes delete the router\ny = 1\ny", store_history=False).result == 1


def test_the_magics_need_the_notebooks_client(shell, capsys):
    shell.user_ns.pop("client", None)
    result = shell.run_cell("%%changes anything\n1", store_history=False)
    assert result.result is None and "run client = dialpad_nb.connect() first" in capsys.readouterr().err


# --------------------------------------------------------------------------- small pieces


def test_the_endpoint_log_waits_for_a_count_or_says_how_many_came(tmp_path):
    from dialpad_nb.endpoint.log import EndpointLog

    log = EndpointLog(tmp_path / "log.jsonl")
    log.append({"call_id": 1})
    assert log.wait_for_requests(1, timeout_s=0) == 1
    assert log.wait_for_requests(3, timeout_s=0, strict=False) == 1
    with pytest.raises(TimeoutError, match="1 of 3 requests were logged within 0 s"):
        log.wait_for_requests(3, timeout_s=0)


def test_an_error_window_chart_of_no_attempts_is_a_chart_not_a_crash(recwarn):
    from dialpad_nb import from_dialpad_calls, simulate
    from dialpad_nb.api.history import call_history_frame
    from dialpad_nb.charts import error_window_chart
    from dialpad_nb.health import infer_patches

    attempts, _ = from_dialpad_calls(call_history_frame([], source="call.list"))
    patches = infer_patches(attempts)
    fig = error_window_chart(simulate(attempts, patches=patches), patches=patches)
    assert "no attempts in this period" in [t.get_text() for t in fig.axes[0].texts]
    assert [str(w.message) for w in recwarn] == []
