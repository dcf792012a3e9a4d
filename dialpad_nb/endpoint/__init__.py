"""The routing endpoint kit (an ASGI app answering Dialpad's routing requests from a rule, with a
JSONL log that replay and health read) and the call-event receiver kit (an ASGI app a webhook
points at, with a JSONL log of the events)."""

from __future__ import annotations

from .app import Endpoint, ServedEndpoint, coerce_decision, load_rules, routing_endpoint, serve_endpoint
from .log import EndpointLog
from .receiver import EventReceiver, ReceiverLog, event_receiver, serve_receiver

__all__ = [
    "Endpoint",
    "EndpointLog",
    "EventReceiver",
    "ReceiverLog",
    "ServedEndpoint",
    "coerce_decision",
    "event_receiver",
    "load_rules",
    "routing_endpoint",
    "serve_endpoint",
    "serve_receiver",
]
