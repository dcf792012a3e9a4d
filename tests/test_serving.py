"""dialpad_nb.core.serving: the one uvicorn runner behind the sandbox and the routing endpoint."""

from __future__ import annotations

import contextlib
import io

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from dialpad_nb.core.serving import ServedApp, bind_socket, run_foreground, serve_app, stop_all

pytestmark = pytest.mark.http


def _hello(request):
    return PlainTextResponse("hello")


def _app() -> Starlette:
    return Starlette(routes=[Route("/", _hello)])


def _failing_app() -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app):
        raise RuntimeError("cannot open resources")
        yield  # pragma: no cover

    return Starlette(routes=[Route("/", _hello)], lifespan=lifespan)


def test_serve_app_answers_over_loopback_and_stop_frees_the_port():
    served = serve_app(_app(), name="hello")
    assert served.url.startswith("http://127.0.0.1:") and not served.url.endswith("/")
    assert served.running and "running" in repr(served)
    assert httpx.get(served.url + "/", trust_env=False).text == "hello"
    served.stop()
    assert not served.running and "stopped" in repr(served)
    with pytest.raises(httpx.ConnectError):
        httpx.get(served.url + "/", timeout=2, trust_env=False)
    served.stop()  # idempotent


def test_an_app_whose_startup_fails_is_a_clear_error_naming_it():
    with pytest.raises(RuntimeError, match=r"the hello at http://127\.0\.0\.1:\d+ did not start"):
        serve_app(_failing_app(), name="hello")


def test_a_taken_port_is_an_oserror_at_once():
    taken = bind_socket()
    try:
        with pytest.raises(OSError):
            serve_app(_app(), port=taken.getsockname()[1])
    finally:
        taken.close()


def test_stop_all_stops_every_server():
    servers = [serve_app(_app()), serve_app(_app())]
    assert all(isinstance(s, ServedApp) and s.running for s in servers)
    stop_all(*servers)
    assert not any(s.running for s in servers)


def test_run_foreground_reports_a_taken_port_without_printing_the_banner(capsys):
    taken = bind_socket()
    out = io.StringIO()
    try:
        status = run_foreground(
            _app(),
            host="127.0.0.1",
            port=taken.getsockname()[1],
            label="thing",
            banner=lambda url: [f"listening on {url}"],
            out=out,
        )
    finally:
        taken.close()
    assert status == 2
    assert "dialpad-nb thing: cannot listen on 127.0.0.1:" in capsys.readouterr().err
    assert out.getvalue() == ""
