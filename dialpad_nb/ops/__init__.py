"""Operations: the watcher that warns before Dialpad disables a router (:func:`watch`), its alerts
and state file, the sources it and the dashboard read (sandbox attempts, call history, the
endpoint log), the dashboard app (:mod:`.dashboard`) and the papermill reports (:mod:`.reports`).

Stands above ``widgets`` and ``charts`` (the dashboard shows them) and below ``cli``.
"""

from __future__ import annotations

from ..core._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "FleetDashboard": "dashboard",
    "HistorySource": "sources",
    "LogSource": "sources",
    "REPORTS": "reports",
    "SandboxSource": "sources",
    "WatchState": "watch_state",
    "dashboard_from_env": "dashboard",
    "Watcher": "watcher",
    "run_report": "reports",
    "watch": "watcher",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
