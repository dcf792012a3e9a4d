"""dialpad_nb: manage, replay and chart Dialpad call routers from Jupyter.

The public API is re-exported here and loaded lazily: ``import dialpad_nb``
imports nothing heavy (no pandas, matplotlib or ipywidgets) until a name is used.
Charts and widgets live in ``dialpad_nb.charts.*`` and ``dialpad_nb.widgets.*``.
"""

from __future__ import annotations

from .core._lazy import lazy_exports

__version__ = "0.1.0"

# name -> submodule that defines it (one line per name, sorted by name)
_EXPORTS: dict[str, str] = {
    "APIError": "core.errors",
    "ActionResult": "api.console",
    "BadRequest": "core.errors",
    "CanaryAdmin": "endpoint.admin",
    "CallRouter": "core.models",
    "ChangesNotAllowed": "core.errors",
    "Conflict": "core.errors",
    "DIALPAD": "core.policy",
    "DialpadClient": "api.client",
    "DialpadError": "core.errors",
    "DialpadTimeout": "core.errors",
    "Directory": "core.directory",
    "DirectoryEntry": "core.models",
    "ERROR_OUTCOMES": "core.policy",
    "Enrichment": "rules.enrich",
    "ErrorWindow": "core.policy",
    "DistributedRunFailed": "core.errors",
    "IncompleteRead": "core.errors",
    "MissingExtra": "core.errors",
    "Forbidden": "core.errors",
    "MatrixError": "rules.matrix",
    "MatrixSource": "rules.matrix_file",
    "NoSecretWarning": "calls.read",
    "NotFound": "core.errors",
    "Number": "core.models",
    "OUTCOMES": "core.policy",
    "Office": "core.models",
    "PatchGuardError": "core.errors",
    "Policy": "core.policy",
    "RateLimited": "core.errors",
    "ReadResult": "core.frames",
    "RouterConsole": "api.console",
    "RouterHealthState": "core.policy",
    "RoutingDecision": "core.models",
    "RoutingRequest": "core.models",
    "RuleSet": "rules.ruleset",
    "SandboxControl": "api.control",
    "SandboxOnly": "core.errors",
    "SandboxOptionsIgnored": "connection",
    "SandboxServer": "sandbox.runner",
    "ServerError": "core.errors",
    "SimulatedClock": "core.clock",
    "SystemClock": "core.clock",
    "TARGET_TYPES": "core.models",
    "TargetNameWarning": "rules.matrix",
    "TimezoneMismatchWarning": "rules.ruleset",
    "TokenError": "core.errors",
    "TransportError": "core.errors",
    "Unauthorized": "core.errors",
    "ValidationError": "core.errors",
    "canary_report": "health.canary",
    "compare": "rules.comparison",
    "dask_compare": "rules.dask_replay",
    "dask_simulate": "health.dask_window",
    "connect": "connection",
    "endpoint_attempts": "health.dataset_attempts",
    "event_receiver": "endpoint.receiver",
    "from_dialpad_calls": "health.history",
    "from_sandbox": "health.attempts",
    "health_summary": "health.summary",
    "ingest": "calls.dataset",
    "iter_calls": "calls.read",
    "load_matrix": "rules.ruleset",
    "read_attempts_csv": "health.attempts",
    "read_calls": "calls.read",
    "read_endpoint_log": "health.attempts",
    "read_experiment": "calls.experiment_log",
    "read_log": "calls.endpoint_log",
    "read_log_events": "calls.endpoint_log",
    "stream_compare": "rules.streamed",
    "routing_endpoint": "endpoint.app",
    "serve_endpoint": "endpoint.app",
    "serve_receiver": "endpoint.receiver",
    "shadow_report": "health.shadow",
    "simulate": "health.window",
    "start_sandbox": "sandbox.runner",
    "watch": "ops.watcher",
    "what_if": "health.window",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext dialpad_nb``: the notebooks' cell magics ``%%sandbox_only`` and ``%%changes``
    (:mod:`dialpad_nb.magics`)."""
    from .magics import load_ipython_extension as load

    load(ipython)
