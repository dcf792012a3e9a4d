"""The Dialpad API client: typed calls, the PATCH guard, the router console's
state and actions, and the sandbox's control API (sandbox only)."""

from __future__ import annotations

from ..core.directory import Directory, RouterDescription
from .client import UNSET, DialpadClient
from .console import ActionResult, RouterConsole
from .control import SandboxControl

__all__ = [
    "UNSET",
    "ActionResult",
    "DialpadClient",
    "Directory",
    "RouterConsole",
    "RouterDescription",
    "SandboxControl",
]
