"""The routing endpoint kit: an ASGI app answering Dialpad's routing requests from a rule or
a reloadable routing matrix, with a rotated JSONL log that replay and health read, and
``/healthz`` and ``/metrics`` for operations."""

from __future__ import annotations

from .app import (
    ActiveRules,
    Endpoint,
    ReloadResult,
    ServedEndpoint,
    coerce_decision,
    load_rules,
    routing_endpoint,
    serve_endpoint,
)
from .log import EndpointLog
from .metrics import EndpointMetrics, latency_buckets

__all__ = [
    "ActiveRules",
    "Endpoint",
    "EndpointLog",
    "EndpointMetrics",
    "ReloadResult",
    "ServedEndpoint",
    "coerce_decision",
    "latency_buckets",
    "load_rules",
    "routing_endpoint",
    "serve_endpoint",
]
