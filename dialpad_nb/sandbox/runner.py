"""Serve the sandbox with uvicorn: in a background thread (notebooks, tests) or in the foreground (CLI).

The socket is bound before uvicorn starts, so the URL (with the real port when
``port=0``) is known at once and a client that connects early simply waits in
the listen backlog. uvicorn's access log is off: a request line could carry
``?apikey=``. The serving itself is :mod:`dialpad_nb.core.serving` (shared with the
routing endpoint); this module adds the sandbox's app, key and clock.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, TextIO

from ..core.clock import Clock, SimulatedClock, SystemClock, ms_to_datetime
from ..core.serving import ServedApp, bind_socket, run_foreground, uvicorn_config
from .app import SandboxState, create_app

__all__ = [
    "SandboxServer",
    "bind_socket",
    "new_api_key",
    "serve_foreground",
    "start_sandbox",
    "uvicorn_config",
]
# bind_socket and uvicorn_config live in dialpad_nb.core.serving (shared with the routing endpoint);
# they stay importable from here.


def new_api_key() -> str:
    """A random sandbox API key."""
    return "sbx_" + secrets.token_urlsafe(24)


class SandboxServer(ServedApp):
    """A sandbox served by uvicorn in a daemon thread. Use :func:`start_sandbox`.

    ``url`` is the base URL (``http://127.0.0.1:PORT``); ``api_key`` the bearer key
    (never shown in the repr); ``clock`` the sandbox's clock; ``app`` the Starlette
    app (``app.state.sandbox`` is its :class:`SandboxState`). ``stop()`` shuts the
    server down and joins the thread; the server is also a context manager.
    Serving itself is :class:`dialpad_nb.core.serving.ServedApp`.
    """

    def __init__(self, app: Any, sock: Any) -> None:
        super().__init__(app, sock, name="sandbox")

    @property
    def state(self) -> SandboxState:
        return self.app.state.sandbox

    @property
    def api_key(self) -> str:
        return self.state.api_key

    @property
    def clock(self) -> Clock:
        return self.state.clock


def start_sandbox(
    *,
    db_path: str | Path | None = None,
    api_key: str | None = None,
    clock: Clock | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    **app_kwargs: Any,
) -> SandboxServer:
    """Start a sandbox on ``host:port`` (a free loopback port by default) in a background thread.

    ``db_path`` None keeps state in memory; ``api_key`` None makes a random key
    (read it from ``.api_key``); ``clock`` None is a :class:`SimulatedClock` at its
    fixed start (deterministic notebooks), or the system clock with ``as_account=True`` (an
    account stand-in). Other keywords go to :func:`create_app`.
    Returns once the server accepts requests; raises RuntimeError if it cannot start.
    """
    if clock is None:  # an account stand-in runs on real time; a sandbox on a simulated clock
        clock = SystemClock() if app_kwargs.get("as_account") else SimulatedClock()
    app = create_app(
        db_path=":memory:" if db_path is None else db_path,
        api_key=api_key or new_api_key(),
        clock=clock,
        **app_kwargs,
    )
    sock = bind_socket(host, port)
    server = SandboxServer(app, sock)
    server.start()
    return server


def serve_foreground(
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    db_path: str | Path | None = None,
    api_key: str | None = None,
    clock: Clock | None = None,
    out: TextIO | None = None,
    **app_kwargs: Any,
) -> int:
    """Serve the sandbox in this thread until Ctrl-C or SIGTERM; return the exit status (0 = clean stop).

    Prints the URL and the key first (the socket is already listening then).
    ``clock`` None is a :class:`SimulatedClock` starting at the current wall time."""
    key = api_key or new_api_key()
    if clock is None:
        clock = SimulatedClock(SystemClock().now_ms())
    app = create_app(
        db_path=":memory:" if db_path is None else db_path, api_key=key, clock=clock, **app_kwargs
    )
    if isinstance(clock, SimulatedClock):
        clock_text = f"simulated, starting {ms_to_datetime(clock.now_ms()).isoformat()}"
    else:
        clock_text = "system"
    where = str(db_path) if db_path is not None else "in memory (state is lost when the sandbox stops)"

    def banner(url: str) -> list[str]:
        lines = [
            f"Dialpad sandbox listening on {url}",
            f"API key: {key}",
            f"Database: {where}",
            f"Clock: {clock_text}",
        ]
        if app_kwargs.get("as_account"):
            lines.append("Mode: account stand-in (no control API /sandbox/v1: no calls, no clock moves)")
        if app_kwargs.get("without_scopes"):
            lines.append(f"Key without the scope(s): {', '.join(sorted(app_kwargs['without_scopes']))}")
        return lines

    return run_foreground(app, host=host, port=port, label="sandbox", banner=banner, out=out)
