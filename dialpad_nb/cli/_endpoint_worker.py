"""The app factory each ``dialpad-nb endpoint --workers N`` worker process calls (spawned by
uvicorn's supervisor): the spec comes in ``DIALPAD_NB_ENDPOINT_SPEC``, the secret from the
environment variable it names."""

from __future__ import annotations

import signal
import threading
from typing import Any

# Imported first thing in a new worker: a SIGHUP sent before the app listens for it (the
# supervisor passes SIGHUP on to every worker) must not kill the worker. The worker loads the
# current files anyway.
if hasattr(signal, "SIGHUP") and threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

__all__ = ["app"]


def app() -> Any:
    import json
    import os

    from .endpoint import SPEC_ENV, _setup_logging, app_from_spec

    _setup_logging()
    return app_from_spec(json.loads(os.environ[SPEC_ENV]), os.environ)
