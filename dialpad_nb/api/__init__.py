"""The Dialpad API client: typed calls, the PATCH guard, call history, webhooks and call-event
subscriptions, the router console's state and actions, and the sandbox's control API (sandbox only)."""

from __future__ import annotations

from ..core.directory import Directory, RouterDescription
from .client import UNSET, DialpadClient
from .console import ActionResult, RouterConsole
from .control import SandboxControl
from .history import CALL_HISTORY_COLUMNS, CallSubscription, HistoryAPI, Webhook, call_history_frame

__all__ = [
    "CALL_HISTORY_COLUMNS",
    "UNSET",
    "ActionResult",
    "CallSubscription",
    "DialpadClient",
    "Directory",
    "HistoryAPI",
    "RouterConsole",
    "RouterDescription",
    "SandboxControl",
    "Webhook",
    "call_history_frame",
]
