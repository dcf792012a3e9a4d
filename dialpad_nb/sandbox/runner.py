"""Serve the sandbox with uvicorn: in a background thread (notebooks, tests) or in the foreground (CLI).

The socket is bound before uvicorn starts, so the URL (with the real port when
``port=0``) is known at once and a client that connects early simply waits in
the listen backlog. uvicorn's access log is off: a request line could carry
``?apikey=``.
"""

from __future__ import annotations

import secrets
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

import uvicorn
from starlette.applications import Starlette
from uvicorn.config import LOGGING_CONFIG

from ..clock import Clock, SimulatedClock, SystemClock, ms_to_datetime
from .app import SandboxState, create_app

__all__ = [
    "SandboxServer",
    "bind_socket",
    "new_api_key",
    "serve_foreground",
    "start_sandbox",
    "uvicorn_config",
]

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


def new_api_key() -> str:
    """A random sandbox API key."""
    return "sbx_" + secrets.token_urlsafe(24)


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port=0``: a free port chosen by the OS)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only when the listening
    # socket says TCP; without it every response waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def uvicorn_config(
    app: Starlette, *, log_level: str = "warning", own_logging: bool = False
) -> uvicorn.Config:
    """uvicorn settings shared by the thread runner and the CLI (no access log).

    ``own_logging`` lets uvicorn configure its loggers (the CLI); in a notebook or a
    test the host's logging is left alone and uvicorn's records propagate to it."""
    return uvicorn.Config(
        app,
        log_level=log_level,
        log_config=LOGGING_CONFIG if own_logging else None,
        access_log=False,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=5,
    )


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class SandboxServer:
    """A sandbox served by uvicorn in a daemon thread. Use :func:`start_sandbox`.

    ``url`` is the base URL (``http://127.0.0.1:PORT``); ``api_key`` the bearer key
    (never shown in the repr); ``clock`` the sandbox's clock; ``app`` the Starlette
    app (``app.state.sandbox`` is its :class:`SandboxState`). ``stop()`` shuts the
    server down and joins the thread; the server is also a context manager.
    """

    def __init__(self, app: Starlette, sock: socket.socket) -> None:
        self.app = app
        self._sock = sock
        self.url = _url(sock)
        self._server = uvicorn.Server(uvicorn_config(app))
        self._thread = threading.Thread(target=self._run, name=f"dialpad-nb-sandbox {self.url}", daemon=True)
        self._error: BaseException | None = None
        self._control: Any = None

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # reported by start() / stop()
            self._error = exc

    @property
    def state(self) -> SandboxState:
        return self.app.state.sandbox

    @property
    def api_key(self) -> str:
        return self.state.api_key

    @property
    def clock(self) -> Clock:
        return self.state.clock

    @property
    def control(self) -> Any:
        """A :class:`~dialpad_nb.sandbox.control_client.SandboxControl` for this sandbox
        (place calls, attempts as a DataFrame, outbox, clock); closed by :meth:`stop`."""
        if self._control is None:
            from .control_client import sandbox_control

            self._control = sandbox_control(self)
        return self._control

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and self._server.started and not self._server.should_exit

    def start(self, timeout_s: float = START_TIMEOUT_S) -> SandboxServer:
        """Start the thread and wait (bounded) until uvicorn reports it has started."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                reason = type(self._error).__name__ if self._error else "timed out"
                if self._thread.is_alive():
                    self._server.should_exit = True
                    self._thread.join(STOP_TIMEOUT_S)
                self._sock.close()
                raise RuntimeError(f"the sandbox at {self.url} did not start ({reason})") from self._error
            time.sleep(0.005)
        return self

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Shut down (lifespan shutdown closes the store) and join the thread. Idempotent."""
        if self._thread.is_alive():
            self._server.should_exit = True
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout_s)
        self._sock.close()
        if self._control is not None:
            self._control.close()

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        status = "running" if self.running else "stopped"
        return f"SandboxServer(url={self.url!r}, {status})"


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
    fixed start (deterministic notebooks). Other keywords go to :func:`create_app`.
    Returns once the server accepts requests; raises RuntimeError if it cannot start.
    """
    app = create_app(
        db_path=":memory:" if db_path is None else db_path,
        api_key=api_key or new_api_key(),
        clock=clock if clock is not None else SimulatedClock(),
        **app_kwargs,
    )
    sock = bind_socket(host, port)
    return SandboxServer(app, sock).start()


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
    out = out or sys.stdout
    key = api_key or new_api_key()
    if clock is None:
        clock = SimulatedClock(SystemClock().now_ms())
    app = create_app(
        db_path=":memory:" if db_path is None else db_path, api_key=key, clock=clock, **app_kwargs
    )
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        print(f"dialpad-nb sandbox: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if isinstance(clock, SimulatedClock):
        clock_text = f"simulated, starting {ms_to_datetime(clock.now_ms()).isoformat()}"
    else:
        clock_text = "system"
    where = str(db_path) if db_path is not None else "in memory (state is lost when the sandbox stops)"
    print(f"Dialpad sandbox listening on {_url(sock)}", file=out)
    print(f"API key: {key}", file=out)
    print(f"Database: {where}", file=out)
    print(f"Clock: {clock_text}", file=out)
    print("Press Ctrl-C to stop.", file=out, flush=True)

    server = uvicorn.Server(uvicorn_config(app, own_logging=True))
    # uvicorn handles SIGINT/SIGTERM while it runs and re-raises the signal afterwards;
    # these handlers absorb that re-raise so a requested stop exits with status 0.
    stops: list[int] = []
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: stops.append(signum))
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    if not server.started:
        print("dialpad-nb sandbox: the server did not start", file=sys.stderr)
        return 1
    print("Sandbox stopped.", file=out, flush=True)
    return 0
