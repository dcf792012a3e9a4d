"""ipywidgets views over the package's plain-Python state.

``from dialpad_nb.widgets import router_console`` loads only that view (names load
lazily), so importing ``dialpad_nb`` never pulls in ipywidgets.
"""

from __future__ import annotations

from ..core._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "HealthExplorer": "health",
    "HealthWidget": "health",
    "ReplaySession": "replay",
    "ReplayWidget": "replay",
    "RouterConsoleWidget": "console",
    "describe_edit": "replay",
    "format_cell": "health",
    "health_widget": "health",
    "replay_widget": "replay",
    "router_console": "console",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
