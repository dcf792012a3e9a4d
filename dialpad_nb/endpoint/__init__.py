"""The routing endpoint kit: an ASGI app answering Dialpad's routing requests from a rule,
with a JSONL log that replay and health read."""

from __future__ import annotations

from .app import Endpoint, ServedEndpoint, coerce_decision, load_rules, routing_endpoint, serve_endpoint
from .log import EndpointLog

__all__ = [
    "Endpoint",
    "EndpointLog",
    "ServedEndpoint",
    "coerce_decision",
    "load_rules",
    "routing_endpoint",
    "serve_endpoint",
]
