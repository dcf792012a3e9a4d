"""The embedded Dialpad sandbox: Dialpad's call-router API (and, later, call dispatch)
on SQLite, served by Starlette.

* :func:`create_app` — the ASGI app (tests use ``starlette.testclient.TestClient``);
* :func:`start_sandbox` — a real server in a background thread on a free loopback
  port (notebooks, integration tests); returns a :class:`SandboxServer`;
* ``dialpad-nb sandbox`` — the same in the foreground (see :mod:`dialpad_nb.cli`).

Importing this package starts nothing.
"""

from __future__ import annotations

from .app import SandboxState, create_app
from .runner import SandboxServer, start_sandbox

__all__ = ["SandboxServer", "SandboxState", "create_app", "start_sandbox"]
