"""What people look at: matplotlib charts (each function takes DataFrames and returns a
``matplotlib.figure.Figure``, no pyplot global state) and tables formatted for reading
(:func:`show_table`). One module per topic; names load lazily (``from dialpad_nb.charts
import error_window_chart`` imports only ``charts.health``)."""

from __future__ import annotations

from ..core._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "HEATMAP_PER": "replay",
    "OUTCOME_COLORS": "health",
    "ShownTable": "tables",
    "VERDICT_COLORS": "shadow",
    "canary_chart": "canary",
    "error_window_chart": "health",
    "flow_chart": "replay",
    "hourly_heatmap": "replay",
    "latency_chart": "health",
    "latency_distribution_chart": "health",
    "outcomes_per_hour_chart": "health",
    "shadow_chart": "shadow",
    "shadow_flow_chart": "shadow",
    "show_table": "tables",
    "volume_chart": "replay",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
