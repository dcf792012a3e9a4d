"""The routing endpoint kit: an ASGI app answering Dialpad's routing requests from a rule or
a reloadable routing matrix, with a rotated JSONL log that replay and health read, and
``/healthz`` and ``/metrics`` for operations; shadow rules and a sticky canary that stops
itself (``/admin/canary``); and the call-event receiver kit (an ASGI app a
webhook points at, with a JSONL log of the events)."""

from __future__ import annotations

from .admin import ADMIN_PATH, CanaryAdmin
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
from .canary import Canary, StopRule, caller_bucket
from .log import EndpointLog
from .metrics import EndpointMetrics, latency_buckets
from .receiver import EventReceiver, ReceiverLog, event_receiver, serve_receiver

__all__ = [
    "ADMIN_PATH",
    "ActiveRules",
    "Canary",
    "CanaryAdmin",
    "Endpoint",
    "EndpointLog",
    "EndpointMetrics",
    "EventReceiver",
    "ReceiverLog",
    "ReloadResult",
    "ServedEndpoint",
    "StopRule",
    "caller_bucket",
    "coerce_decision",
    "event_receiver",
    "latency_buckets",
    "load_rules",
    "routing_endpoint",
    "serve_endpoint",
    "serve_receiver",
]
