"""The Dialpad API client: typed calls, the PATCH guard, call history, webhooks and call-event
subscriptions, the router console's state and actions, and the sandbox's control API (sandbox only)."""

from __future__ import annotations

from ..core.directory import Directory, RouterDescription
from .capabilities import ACCOUNT, EMBEDDED_SANDBOX, SANDBOX, SANDBOX_ONLY_INSTEAD, Capabilities, RemoteClock
from .client import UNSET, DialpadClient
from .console import ActionResult, RouterConsole
from .control import SandboxControl
from .fleet import Fleet
from .history import CALL_HISTORY_COLUMNS, CallSubscription, HistoryAPI, Webhook, call_history_frame

__all__ = [
    "ACCOUNT",
    "CALL_HISTORY_COLUMNS",
    "EMBEDDED_SANDBOX",
    "SANDBOX",
    "SANDBOX_ONLY_INSTEAD",
    "UNSET",
    "ActionResult",
    "CallSubscription",
    "Capabilities",
    "DialpadClient",
    "Directory",
    "Fleet",
    "HistoryAPI",
    "RouterConsole",
    "RemoteClock",
    "RouterDescription",
    "SandboxControl",
    "Webhook",
    "call_history_frame",
]
