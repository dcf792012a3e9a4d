"""dialpad_nb: manage, replay and chart Dialpad call routers from Jupyter.

The public API is re-exported here and loaded lazily: ``import dialpad_nb``
imports nothing heavy (no pandas, matplotlib or ipywidgets) until a name is used.
Charts and widgets live in ``dialpad_nb.charts.*`` and ``dialpad_nb.widgets.*``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# name -> submodule that defines it (one line per name, sorted by name)
_EXPORTS: dict[str, str] = {
    "APIError": "errors",
    "ActionResult": "console",
    "BadRequest": "errors",
    "CallRouter": "models",
    "Conflict": "errors",
    "DIALPAD": "policy",
    "DialpadClient": "client",
    "DialpadError": "errors",
    "DialpadTimeout": "errors",
    "Directory": "client",
    "DirectoryEntry": "models",
    "ERROR_OUTCOMES": "policy",
    "Enrichment": "enrich",
    "ErrorWindow": "policy",
    "Forbidden": "errors",
    "MatrixError": "matrix",
    "NotFound": "errors",
    "Number": "models",
    "OUTCOMES": "policy",
    "Office": "models",
    "PatchGuardError": "errors",
    "Policy": "policy",
    "RateLimited": "errors",
    "ReadResult": "calls",
    "RouterConsole": "console",
    "RouterHealthState": "policy",
    "RoutingDecision": "models",
    "RoutingRequest": "models",
    "RuleSet": "rules",
    "SandboxControl": "sandbox.control_client",
    "SandboxServer": "sandbox.runner",
    "ServerError": "errors",
    "SimulatedClock": "clock",
    "SystemClock": "clock",
    "TARGET_TYPES": "models",
    "TokenError": "errors",
    "TransportError": "errors",
    "Unauthorized": "errors",
    "ValidationError": "errors",
    "compare": "replay",
    "connect": "connection",
    "from_sandbox": "attempts",
    "health_summary": "health",
    "iter_calls": "calls",
    "load_matrix": "rules",
    "read_attempts_csv": "attempts",
    "read_calls": "calls",
    "read_endpoint_log": "attempts",
    "routing_endpoint": "endpoint",
    "serve_endpoint": "endpoint",
    "simulate": "health",
    "start_sandbox": "sandbox.runner",
    "what_if": "health",
}

__all__ = sorted(_EXPORTS)

def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dialpad_nb' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
