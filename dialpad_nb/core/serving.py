"""Serve any ASGI app with uvicorn: in a background thread (notebooks, tests), in the
foreground (the CLI), or in several worker processes (:func:`run_workers`). The one place that
runs uvicorn, for the sandbox and the routing endpoint.

The socket is bound and listening before uvicorn starts (:func:`bind_socket`), so the URL
(with the real port when ``port=0``) is known at once and a client that connects early
simply waits in the listen backlog. uvicorn's access log is off: a request line could
carry ``?apikey=``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Self, TextIO

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from .errors import ServerNotStarted

__all__ = [
    "START_TIMEOUT_S",
    "STOP_TIMEOUT_S",
    "ServedApp",
    "bind_socket",
    "run_foreground",
    "run_workers",
    "serve_app",
    "socket_url",
    "stop_all",
    "uvicorn_config",
]

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


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


def socket_url(sock: socket.socket) -> str:
    """``http://HOST:PORT`` of a bound socket (IPv6 hosts in brackets), no trailing slash."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def uvicorn_config(app: Any, *, log_level: str = "warning", own_logging: bool = False) -> uvicorn.Config:
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


class ServedApp:
    """An ASGI app served by uvicorn in a daemon thread on an already-bound socket.

    Use :func:`serve_app` (or a wrapper such as ``start_sandbox``/``serve_endpoint``).
    ``url`` has no trailing slash; ``stop()`` asks uvicorn to exit and joins the thread
    (idempotent); also a context manager.
    """

    def __init__(self, app: Any, sock: socket.socket, *, name: str = "asgi-server") -> None:
        self.app = app
        self._sock = sock
        self.url = socket_url(sock)
        self._name = name
        self._server = uvicorn.Server(uvicorn_config(app))
        self._thread = threading.Thread(target=self._run, name=f"{name} {self.url}", daemon=True)
        self._started = threading.Event()
        self._error: BaseException | None = None
        # Our Event is set once uvicorn's startup is done (or, if it fails, when _run() ends).
        original_startup = self._server.startup

        async def startup(sockets: Any = None) -> None:
            try:
                await original_startup(sockets=sockets)
            finally:
                self._started.set()

        self._server.startup = startup  # type: ignore[method-assign]

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # reported by start()
            self._error = exc
        finally:
            self._started.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and self._server.started and not self._server.should_exit

    def start(self, timeout_s: float = START_TIMEOUT_S) -> Self:
        """Start the thread and wait (bounded) until uvicorn has started.

        Raises ``RuntimeError`` (naming the URL and why) if it does not."""
        self._thread.start()
        self._started.wait(timeout_s)
        if not self._server.started:
            reason = type(self._error).__name__ if self._error else "timed out"
            if self._thread.is_alive():
                self._server.should_exit = True
                self._thread.join(STOP_TIMEOUT_S)
            self._sock.close()
            raise ServerNotStarted(
                f"the {self._name} at {self.url} did not start ({reason})"
            ) from self._error
        return self

    def request_stop(self) -> None:
        """Ask uvicorn to exit without waiting (see :func:`stop_all`)."""
        self._server.should_exit = True

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Shut down (the app's lifespan shutdown runs) and join the thread. Idempotent."""
        if self._thread.is_alive():
            self._server.should_exit = True
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout_s)
        self._sock.close()

    def __enter__(self) -> ServedApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        status = "running" if self.running else "stopped"
        return f"{type(self).__name__}(url={self.url!r}, {status})"


def serve_app(app: Any, *, host: str = "127.0.0.1", port: int = 0, name: str = "asgi-server") -> ServedApp:
    """Start serving ``app`` on ``host:port`` (0 = a free port) in a daemon thread.

    Raises ``OSError`` at once if the port is taken, ``RuntimeError`` if uvicorn
    fails to start (the reason is in its log)."""
    return ServedApp(app, bind_socket(host, port), name=name).start()


def stop_all(*served: ServedApp) -> None:
    """Stop several servers at once (they shut down in parallel)."""
    for s in served:
        s.request_stop()
    for s in served:
        s.stop()


def run_foreground(
    app: Any,
    *,
    host: str,
    port: int,
    label: str,
    banner: Callable[[str], Iterable[str]],
    out: TextIO | None = None,
) -> int:
    """Serve ``app`` in this thread until Ctrl-C or SIGTERM (the CLI); the exit status.

    Binds first (a taken port: a message on stderr, status 2), then prints the lines
    ``banner(url)`` gives and "Press Ctrl-C to stop." (the socket is listening by then).
    A requested stop prints "<Label> stopped." and returns 0; a server that did not
    start, 1. ``label`` names the server in messages ("sandbox", "endpoint")."""
    out = out or sys.stdout
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        print(f"dialpad-nb {label}: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for line in banner(socket_url(sock)):
        print(line, file=out)
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
        print(f"dialpad-nb {label}: the server did not start", file=sys.stderr)
        return 1
    print(f"{label.capitalize()} stopped.", file=out, flush=True)
    return 0


# --------------------------------------------------------------------------- worker processes


def run_workers(
    app_factory: str,
    *,
    workers: int,
    host: str,
    port: int,
    label: str,
    banner: Callable[[str], Iterable[str]],
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> int:
    """Serve with ``workers`` uvicorn worker processes sharing one listening socket, in the
    foreground until Ctrl-C or SIGTERM; the exit status.

    ``app_factory`` is ``"module:function"``, called in each worker to build its app (workers
    are spawned, so settings travel in ``environ``, set for the run). uvicorn's supervisor
    replaces a worker that dies; SIGINT/SIGTERM stop each worker gracefully (it stops accepting
    and finishes the requests in flight, up to 5 s); SIGHUP is passed on to every worker (each
    reloads its rules, see :mod:`dialpad_nb.endpoint.app`) instead of restarting them. Binds
    first (a taken port: status 2) and prints ``banner(url)``; 1 if the workers did not start."""
    from uvicorn import config as uvicorn_config_module
    from uvicorn.config import Config
    from uvicorn.supervisors.multiprocess import Multiprocess

    startup_failure = getattr(uvicorn_config_module, "STARTUP_FAILURE", 3)  # named in uvicorn >= 0.32

    out = out or sys.stdout
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        print(f"dialpad-nb {label}: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for line in banner(socket_url(sock)):
        print(line, file=out)
    print(f"{workers} worker processes. Press Ctrl-C to stop.", file=out, flush=True)
    config = Config(
        app_factory,
        factory=True,
        workers=workers,
        log_config=LOGGING_CONFIG,
        log_level="info",  # worker starts, deaths, replacements and stops, as uvicorn says them
        access_log=False,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=5,
    )

    class Workers(Multiprocess):
        def handle_hup(self) -> None:  # reload in place, not uvicorn's restart of every worker
            for process in self.processes:
                if process.pid is not None and process.process.is_alive():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process.pid, signal.SIGHUP)

    saved = {k: os.environ.get(k) for k in (environ or {})}
    os.environ.update(environ or {})
    try:
        try:  # uvicorn >= 0.51
            supervisor = Workers(config, sockets=[sock])
        except TypeError:  # uvicorn 0.30 - 0.50
            supervisor = Workers(config, target=uvicorn.Server(config).run, sockets=[sock])  # type: ignore[call-arg]
        supervisor.run()
    finally:
        sock.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if any(p.process.exitcode == startup_failure for p in supervisor.processes):
        print(f"dialpad-nb {label}: the workers did not start", file=sys.stderr)
        return 1
    print(f"{label.capitalize()} stopped.", file=out, flush=True)
    return 0
