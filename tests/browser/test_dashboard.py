"""The ops dashboard in a real browser: Voila serving ``dialpad_nb/ops/dashboard.ipynb`` (as
``dialpad-nb dashboard`` does) against a sandbox on loopback, driven in Debian's chromium.

One Voila server and one page per module (its kernel lives as long as the page); the tests run in
order on that page, as a person would use it: look, see a router go bad, drill down, act, lose the
source. Every test also fails on a console error and on any request that is not to loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from argparse import Namespace
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from dialpad_nb import connect
from dialpad_nb.cli.dashboard import voila_command, voila_env
from dialpad_nb.core.serving import serve_app
from dialpad_nb.ops.demo_endpoint import demo_endpoint
from dialpad_nb.sandbox import start_sandbox
from tests.helpers_alerts import closed_port_url

from .conftest import _OFFLINE_DROP, UI_TIMEOUT_MS, _screenshots

pytestmark = [pytest.mark.browser, pytest.mark.http]

INTERVAL_S = 2.0
CALLER = "+12065550177"
MIN = 60_000
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(proc: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"Voila exited with {proc.returncode}: {log.read_text(errors='replace')[-3000:]}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            try:
                proc.wait(timeout=0.1)  # the pause between tries doubles as "did it die?"
            except subprocess.TimeoutExpired:
                pass
    raise RuntimeError(f"Voila did not listen within 60 s: {log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A sandbox (simulated clock) with three routers: one healthy, one failing quietly, one disabled."""
    server = start_sandbox()
    client = connect({"DIALPAD_API_KEY": server.api_key, "DIALPAD_BASE_URL": server.url})
    reception = client.resolve_target("Reception")
    endpoint = serve_app(demo_endpoint(reception.id, reception.type), name="test-endpoint")
    numbers = {}
    for name, url in (
        ("Support line", endpoint.url + "/route"),
        ("Returns line", closed_port_url()),
        ("Billing line", closed_port_url()),
    ):
        router = client.create_router(name=name, routing_url=url, default_target="Reception")
        numbers[name] = client.assign_number(router.id, area_code="415").number
    start = client.control.clock()
    calls = [{"to": numbers["Support line"], "from": CALLER, "at": start + (i + 1) * MIN} for i in range(5)]
    calls += [
        {"to": numbers["Billing line"], "from": CALLER, "at": start + (i + 1) * MIN + 1} for i in range(11)
    ]
    calls += [{"to": numbers["Returns line"], "from": CALLER, "at": start + 20 * MIN}]  # 1 error: fine
    client.control.place_calls(sorted(calls, key=lambda c: c["at"]))
    try:
        yield {"server": server, "client": client, "numbers": numbers}
    finally:
        client.close()
        endpoint.stop()
        server.stop()


@pytest.fixture(scope="module")
def voila(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("voila")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in _OFFLINE_DROP}
    for name in ("config", "data", "runtime", "ipython"):
        (base / name).mkdir()
    env.update(
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        IPYTHONDIR=str(base / "ipython"),
        DIALPAD_API_KEY=world["server"].api_key,
        DIALPAD_BASE_URL=world["server"].url,
    )
    args = Namespace(interval=INTERVAL_S, timezone="UTC", demo=False, log=None, router_id=None)
    log = base / "voila.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            voila_command(port),
            env=voila_env(args, env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(proc, port, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class DashboardPage:
    def __init__(self, page: Any, shots: Path) -> None:
        self.page = page
        self.shots = shots
        self.errors: list[str] = []
        self.remote: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on(
            "console", lambda m: self.errors.append(f"console.error: {m.text}") if m.type == "error" else None
        )
        page.on("request", self._on_request)

    def _on_request(self, request: Any) -> None:
        url = request.url
        if url.startswith(("data:", "blob:", "about:")):
            return
        if urlsplit(url).hostname not in LOOPBACK:
            self.remote.append(url)

    def snap(self, name: str) -> Path:
        """The whole dashboard: Voila scrolls it inside the page, so the window grows to fit it."""
        path = self.shots / f"dashboard-{name}.png"
        dashboard = self.page.locator(".dpnb-dashboard")
        viewport = self.page.viewport_size
        box = dashboard.bounding_box()
        if viewport and box and box["height"] + 200 > viewport["height"]:
            self.page.set_viewport_size({"width": viewport["width"], "height": int(box["height"]) + 300})
        try:
            dashboard.screenshot(path=str(path))
        finally:
            if viewport:
                self.page.set_viewport_size(viewport)
        _screenshots.append(path)
        return path

    def check_clean(self) -> None:
        assert self.remote == [], f"requests off this machine: {self.remote}"
        assert self.errors == [], f"errors in the page: {self.errors}"


@pytest.fixture(scope="module")
def dash(browser: Any, voila: str, world: dict[str, Any], screenshot_dir: Path) -> Iterator[DashboardPage]:
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    before = [(r.name, r.enabled, tuple(r.phone_numbers)) for r in world["client"].list_routers()]
    attempts_before = len(world["client"].control.attempt_records())
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    d = DashboardPage(context.new_page(), screenshot_dir)
    d.page.goto(voila)
    expect(d.page.locator("table.dpnb-fleet")).to_be_visible()
    d.before = (before, attempts_before)  # type: ignore[attr-defined]
    try:
        yield d
    finally:
        context.close()


def test_the_page_loads_lists_the_routers_and_changes_nothing(dash, world):
    from playwright.sync_api import expect

    page = dash.page
    rows = page.locator("table.dpnb-fleet tr.dpnb-router")
    expect(rows).to_have_count(3)
    expect(page.locator("table.dpnb-fleet")).to_contain_text("Support line")
    billing = rows.filter(has_text="Billing line")
    expect(billing).to_contain_text("disabled")
    expect(billing).to_contain_text("NO")
    expect(page.locator(".dpnb-banner")).to_contain_text("DISABLED")
    expect(page.locator(".dpnb-banner")).not_to_contain_text("Returns line")
    assert page.locator(".jp-InputArea, .jp-CodeMirrorEditor").count() == 0  # no code shown
    before, attempts_before = dash.before
    after = [(r.name, r.enabled, tuple(r.phone_numbers)) for r in world["client"].list_routers()]
    assert after == before and len(world["client"].control.attempt_records()) == attempts_before
    dash.snap("fleet")
    dash.check_clean()


def test_a_router_driven_past_the_warning_level_shows_the_banner_within_one_refresh(dash, world):
    from playwright.sync_api import expect

    page = dash.page
    page.evaluate("window.__notReloaded = true")
    control = world["client"].control
    start = control.clock()
    number = world["numbers"]["Returns line"]
    control.place_calls([{"to": number, "from": CALLER, "at": start + (i + 1) * 1000} for i in range(8)])
    # 9 errors in the hour: budget 1 left. The timer ticks every 2 s; one tick is enough.
    expect(page.locator(".dpnb-banner")).to_contain_text(
        "Returns line", timeout=int(INTERVAL_S * 1000 * 3) + 5000
    )
    expect(page.locator("table.dpnb-fleet tr.dpnb-router").filter(has_text="Returns line")).to_contain_text(
        "warning"
    )
    assert page.evaluate("window.__notReloaded") is True  # refreshed in place
    dash.snap("banner")
    dash.check_clean()


def test_the_drill_down_charts_and_recent_calls_render(dash):
    from playwright.sync_api import expect

    page = dash.page
    page.locator(".dpnb-dashboard select").select_option(label="Support line")
    charts = page.locator(".dpnb-dashboard img")
    expect(charts).to_have_count(2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.dpnb-dashboard img')].every(i => i.complete && i.naturalWidth > 200)"
    )
    calls = page.locator(".dpnb-dashboard table.dpnb-table")
    expect(calls).to_contain_text("Reception (department)")  # where calls went, by name
    expect(calls).to_contain_text("UTC")
    dash.snap("drilldown")
    dash.check_clean()


def test_an_action_runs_and_the_patch_guard_shows(dash, world):
    from playwright.sync_api import expect

    page = dash.page
    page.locator(".dpnb-dashboard select").select_option(label="Billing line")
    expect(page.locator(".dpnb-guard")).to_contain_text("Billing line")
    delete = page.get_by_role("button", name="Delete router")
    expect(delete).to_be_disabled()  # until the name is typed
    page.get_by_role("button", name="Enable + reset errors").click()
    expect(page.locator(".dpnb-dashboard")).to_contain_text("Enabled (error count reset)")
    rid = next(r.id for r in world["client"].list_routers() if r.name == "Billing line")
    assert world["client"].get_router(rid).enabled is True
    page.get_by_role("button", name="Enable + reset errors").click()  # a second PATCH at once: the guard
    expect(page.locator(".dpnb-dashboard")).to_contain_text("Nothing was sent")
    page.get_by_label("Type its name").fill("Billing line")
    expect(delete).to_be_enabled()
    dash.snap("guard")
    dash.check_clean()


def test_an_unreachable_source_keeps_the_last_data_with_its_age_and_retries(dash, world):
    from playwright.sync_api import expect

    page = dash.page
    world["server"].stop()
    status = page.locator(".dpnb-unreachable")
    expect(status).to_contain_text("Source unreachable", timeout=int(INTERVAL_S * 1000 * 3) + 10000)
    expect(status).to_contain_text("may be stale")
    expect(page.locator("table.dpnb-fleet tr.dpnb-router")).to_have_count(3)  # not blanked
    assert page.locator(".dpnb-dashboard").inner_text().count("Traceback") == 0
    dash.snap("unreachable")
    dash.check_clean()
