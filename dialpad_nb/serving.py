"""Serve any ASGI app with uvicorn in a background thread (for notebooks and tests).

The socket is bound and listening before the thread starts (``sandbox.runner.bind_socket``,
the same one the sandbox uses), so ``.url`` works at once; ``stop()`` asks uvicorn
to exit and joins the thread.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import uvicorn

__all__ = ["ServedApp", "serve_app", "stop_all"]


@dataclass
class ServedApp:
    """An app being served on loopback. ``url`` has no trailing slash."""

    url: str
    app: Any = field(repr=False)
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _sock: socket.socket = field(repr=False)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def request_stop(self) -> None:
        """Ask uvicorn to exit without waiting (see :func:`stop_all`)."""
        self._server.should_exit = True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread (idempotent)."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> ServedApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_app(app: Any, *, host: str = "127.0.0.1", port: int = 0, name: str = "asgi-server") -> ServedApp:
    """Start serving ``app`` on ``host:port`` (0 = a free port) in a daemon thread.

    Raises ``RuntimeError`` if uvicorn fails to start (the reason is in its log)."""
    from .sandbox.runner import bind_socket, uvicorn_config  # one bind (TCP_NODELAY) and one config

    sock = bind_socket(host, port)
    bound_port = sock.getsockname()[1]
    config = uvicorn_config(app)
    server = uvicorn.Server(config)
    started = threading.Event()

    def run() -> None:
        try:
            server.run(sockets=[sock])
        finally:
            started.set()

    # Our Event is set once uvicorn's startup is done (or, if it fails, when run() ends).
    original_startup = server.startup

    async def startup(sockets=None) -> None:
        await original_startup(sockets=sockets)
        started.set()

    server.startup = startup  # type: ignore[method-assign]
    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    started.wait()
    if not server.started:
        thread.join(5)
        sock.close()
        raise RuntimeError(f"{name}: uvicorn failed to start on {host}:{bound_port}")
    return ServedApp(url=f"http://{host}:{bound_port}", app=app, _server=server, _thread=thread, _sock=sock)


def stop_all(*served: ServedApp) -> None:
    """Stop several servers at once (they shut down in parallel)."""
    for s in served:
        s.request_stop()
    for s in served:
        s.stop()
