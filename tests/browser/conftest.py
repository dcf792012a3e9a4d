"""Fixtures for the browser tests: a real JupyterLab 4 server and a headless Chromium.

* ``jupyter_lab`` (module) — JupyterLab from this venv on a free loopback port, token
  disabled, every Jupyter directory in a temp folder, ``root_dir`` = a temp copy of
  ``notebooks/`` (with ``data/`` next to it, as the notebooks read ``../data``), no
  ``DIALPAD_*`` variables (the notebooks use the embedded sandbox). Ready when
  ``GET /api/status`` answers; stopped by its own PID after the module (so nothing lingers
  while the rest of ``make test`` runs).
* ``browser`` (module) — Debian's ``/usr/bin/chromium`` driven by Python ``playwright``
  (never ``playwright install``). A missing browser FAILS the test, naming the fix.
* ``lab`` (per test) — a fresh page in its own JupyterLab workspace;
  ``lab.run_all("NB.ipynb")`` opens the notebook, waits for the kernel, clears the stored
  outputs and runs every cell from the Run menu; ``lab.errors`` collects the page's uncaught
  exceptions and ``console.error`` lines. At teardown it takes a screenshot
  (``<basetemp>/browser-screenshots*/<test>.png``, listed at the end of the run) and shuts
  the test's kernels down. ``lab.snap(locator, name)`` saves one element's screenshot there too
  (``<test>-<name>.png``), for the pictures a reviewer looks at.

Timeouts (ms) are configurable: ``DIALPAD_BROWSER_TIMEOUT_MS`` for one UI step (default
30 000) and ``DIALPAD_BROWSER_RUN_ALL_TIMEOUT_MS`` for running a whole notebook (default 90 000).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
]
UI_TIMEOUT_MS = int(os.environ.get("DIALPAD_BROWSER_TIMEOUT_MS", "30000"))
RUN_ALL_TIMEOUT_MS = int(os.environ.get("DIALPAD_BROWSER_RUN_ALL_TIMEOUT_MS", "90000"))
SERVER_START_TIMEOUT_S = 60.0
# Environment variables that would point the notebooks away from the embedded sandbox.
_OFFLINE_DROP = ("DIALPAD_API_KEY", "DIALPAD_BASE_URL", "DIALPAD_ENV", "MPLBACKEND")
_IDLE = re.compile(r"Python 3 \(ipykernel\) \| Idle")

_screenshots: list[Path] = []


@dataclass(frozen=True)
class JupyterLab:
    url: str  # ends with "/"
    root_dir: Path
    pid: int
    log_path: Path


def _server_log_tail(log_path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def _wait_until_ready(proc: subprocess.Popen, runtime_dir: Path, log_path: Path) -> str:
    """Bounded polling: the server's ``jpserver-<pid>.json`` (its real port), then ``/api/status``."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    info_file = runtime_dir / f"jpserver-{proc.pid}.json"
    url: str | None = None
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited with code {proc.returncode} before it was ready; "
                f"its log ({log_path}):\n{_server_log_tail(log_path)}"
            )
        if url is None:
            try:
                url = json.loads(info_file.read_text())["url"]
            except (OSError, ValueError, KeyError):
                url = None  # not written yet (or half written)
        if url is not None:
            try:
                response = httpx.get(f"{url}api/status", timeout=2.0)
                if response.status_code == 200:
                    return url
                last_error = f"GET /api/status answered {response.status_code}"
            except httpx.HTTPError as exc:
                last_error = f"GET /api/status failed: {exc!r}"
        try:  # the pause between polls doubles as "did the server die?"
            proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            pass
    raise RuntimeError(
        f"JupyterLab was not ready within {SERVER_START_TIMEOUT_S:g} s ({last_error}); "
        f"its log ({log_path}):\n{_server_log_tail(log_path)}"
    )


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's own PID (it shuts its kernels down), then SIGKILL if it hangs."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _quiet_settings(config_dir: Path) -> None:
    """User settings: no "get notified about Jupyter news?" toast over the notebook."""
    settings = config_dir / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))


@pytest.fixture(scope="module")
def jupyter_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "work"
    # A copy: the browser runs and autosaves these, never the committed notebooks.
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    shutil.copytree(REPO / "data", root / "data")
    dirs = {name: base / name for name in ("config", "data", "runtime", "workspaces", "ipython")}
    for path in dirs.values():
        path.mkdir()
    _quiet_settings(dirs["config"])
    env = {k: v for k, v in os.environ.items() if k not in _OFFLINE_DROP}
    env.update(
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
        IPYTHONDIR=str(dirs["ipython"]),
    )
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=0",  # the OS picks a free port; read back from jpserver-<pid>.json
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=",
        f"--ServerApp.root_dir={root / 'notebooks'}",
        # offline and quiet: no update check, no PyPI extension manager (news: see _quiet_settings)
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    log_path = base / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        url = _wait_until_ready(proc, dirs["runtime"], log_path)
        yield JupyterLab(url=url, root_dir=root / "notebooks", pid=proc.pid, log_path=log_path)
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's chromium. Install it with "
            "`apt-get install -y chromium` (as root; `make test` does it via scripts/ensure-chromium), "
            "or deselect these tests with -m 'not browser'.",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "Python playwright is missing: `.venv/bin/pip install -e '.[test]'` "
            "(do not run `playwright install`; the tests use /usr/bin/chromium).",
            pytrace=False,
        )
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser-screenshots")


class LabPage:
    """One browser page on the test server, in a workspace of its own."""

    def __init__(
        self, page: Any, server: JupyterLab, workspace: str, screenshot_dir: Path | None = None
    ) -> None:
        self.page = page
        self.server = server
        self.workspace = workspace
        self.screenshot_dir = screenshot_dir
        self.errors: list[str] = []
        """Uncaught exceptions and ``console.error`` lines in the page (a widget that fails to
        render logs one there and shows nothing); tests assert it stays empty."""
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("console", self._on_console)

    def _on_console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console.error: {message.text}")

    def snap(self, locator: Any, name: str) -> Path:
        """A screenshot of one element, scrolled into view: ``<screenshots>/<test>-<name>.png``."""
        assert self.screenshot_dir is not None
        path = self.screenshot_dir / f"{self.workspace}-{name}.png"
        viewport = self.page.viewport_size
        box = locator.bounding_box()
        # JupyterLab scrolls the notebook inside the page: an element taller than the window would
        # be captured half blank, so the window grows to fit it for the picture
        if viewport and box and box["height"] + 200 > viewport["height"]:
            self.page.set_viewport_size({"width": viewport["width"], "height": int(box["height"]) + 300})
        try:
            locator.scroll_into_view_if_needed()
            locator.screenshot(path=str(path))
        finally:
            if viewport:
                self.page.set_viewport_size(viewport)
        _screenshots.append(path)
        return path

    def run_all(self, notebook: str) -> Any:
        """Open ``notebook``, wait for its kernel, clear the stored outputs (so every widget seen
        afterwards comes from this run, not from the widget state saved in the file), then
        Run → Run All Cells. Returns the notebook's locator; cells may still be running."""
        from playwright.sync_api import expect

        page = self.page
        page.goto(f"{self.server.url}lab/workspaces/{self.workspace}/tree/{notebook}?reset")
        nb = page.locator(".jp-NotebookPanel .jp-Notebook")
        expect(nb).to_be_visible(timeout=RUN_ALL_TIMEOUT_MS)
        expect(page.locator("#jp-main-statusbar")).to_contain_text(_IDLE, timeout=RUN_ALL_TIMEOUT_MS)
        page.get_by_role("menuitem", name="Edit", exact=True).click()
        page.get_by_role("menuitem", name="Clear Outputs of All Cells", exact=True).click()
        expect(nb.locator(".jp-OutputArea-output")).to_have_count(0)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        return nb


@pytest.fixture
def lab(
    browser: Any, jupyter_lab: JupyterLab, screenshot_dir: Path, request: pytest.FixtureRequest
) -> Iterator[LabPage]:
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)
    try:
        yield LabPage(page, jupyter_lab, workspace=name, screenshot_dir=screenshot_dir)
    finally:
        try:
            path = screenshot_dir / f"{name}.png"
            page.screenshot(path=str(path))
            _screenshots.append(path)
        finally:
            context.close()
            _shutdown_kernels(jupyter_lab)


def _shutdown_kernels(server: JupyterLab) -> None:
    """Delete every session (and so its kernel) the test opened: the next test starts clean."""
    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        http.get("lab").raise_for_status()  # sets the _xsrf cookie a DELETE must echo
        headers = {"X-XSRFToken": http.cookies.get("_xsrf", "")}
        for session in http.get("api/sessions").raise_for_status().json():
            http.delete(f"api/sessions/{session['id']}", headers=headers).raise_for_status()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    shots = list(_screenshots)
    if not shots:  # under pytest-xdist they were taken in the workers: <basetemp>/popen-gw*/...
        factory = getattr(terminalreporter.config, "_tmp_path_factory", None)
        if factory is not None:
            base = factory.getbasetemp()
            shots = sorted(base.glob("popen-gw*/browser-screenshots[0-9]*/*.png"))
    if shots:
        terminalreporter.write_sep("-", "browser screenshots")
        for path in shots:
            terminalreporter.write_line(str(path))
