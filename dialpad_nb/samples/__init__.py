"""Sample data: the fictional company the sandbox serves (Harbor & Pine Outfitters), and
seeded generators of call logs, CRM exports and attempt logs, and a few days of call history
with an incident placed in a sandbox (``make_call_history``, notebook 05).

Never imported by the analytics (``calls``, ``rules``, ``health``): they work on any
company. Names are loaded lazily.
"""

from __future__ import annotations

from ..core._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "AlertInbox": "alert_inbox",
    "CALLCENTERS": "company",
    "INTERNAL_NUMBERS": "generate",
    "LiveDemo": "canary_demo",
    "COMPANY": "company",
    "DEPARTMENTS": "company",
    "HistoryDemo": "history_demo",
    "OFFICES": "company",
    "SAMPLE_ROUTERS": "attempts",
    "SAMPLE_SECRET": "generate",
    "USERS": "company",
    "all_targets": "company",
    "generate_calls": "generate",
    "generate_crm": "generate",
    "make_call_history": "history_demo",
    "route_through": "canary_demo",
    "sample_attempts": "attempts",
    "write_call_log": "generate",
    "write_sample": "generate",
    "write_sample_attempts": "attempts",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
