"""Router health explorer: pick a router, move the threshold / deadline / window,
see the error window, latency and the what-if numbers change.

The state and its actions are plain Python (:class:`HealthExplorer`); the
ipywidgets view (:class:`HealthWidget`) only mirrors them: sliders set the
explorer's fields, and the view re-renders the summary table and the charts
(PNG images, so nothing is printed into an ``Output``). Tests drive both
without a browser::

    from dialpad_nb.widgets.health import health_widget
    health_widget(attempts, patches=patches)
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import pandas as pd
from matplotlib.figure import Figure

from ..charts.health import error_window_chart, latency_chart, outcomes_per_hour_chart
from ..core.errors import ValidationError
from ..core.policy import DIALPAD, Policy
from ..health.summary import health_summary
from ..health.window import simulate

__all__ = ["HealthExplorer", "HealthWidget", "format_cell", "health_widget"]

_SUMMARY_ROWS = {
    "calls": "calls",
    "requests": "requests made",
    "errors": "errors",
    "disables": "auto-disables",
    "skipped": "calls skipped while disabled",
    "unknown": "calls with unknown outcome",
    "peak_error_count": "peak errors in window",
    "p50_ms": "latency p50",
    "p99_ms": "latency p99",
    "over_deadline": "share over deadline",
    "at_risk": "share at risk",
    "outlook_at_end": "at the end of the log",
    "budget_left_at_end": "error budget left at end",
}
"""The rows the what-if table shows (health_summary key -> label), in order."""
_MS_ROWS = {"p50_ms", "p99_ms"}
_SHARE_ROWS = {"over_deadline", "at_risk"}


@dataclass
class HealthExplorer:
    """What-if state for one attempts log: the router and the policy numbers to try."""

    attempts: pd.DataFrame
    patches: Any = None
    base: Policy = DIALPAD
    router_id: int | None = None
    threshold: int = field(default=-1)
    deadline_s: float = field(default=-1.0)
    window_min: float = field(default=-1.0)
    router_names: Mapping[int, str] | None = None
    """Router id -> name, for the picker and the chart legends (e.g. ``{r.id: r.name}``)."""
    timezone: str | None = None
    """Where the charts' time axes are drawn (e.g. the office's ``"America/Los_Angeles"``; default UTC)."""

    def __post_init__(self) -> None:
        if self.threshold < 0:
            self.threshold = self.base.error_threshold
        if self.deadline_s < 0:
            self.deadline_s = self.base.deadline_s
        if self.window_min < 0:
            self.window_min = self.base.window_s / 60
        routers = self.routers()
        if self.router_id is None and routers:
            self.router_id = routers[0]
        if self.router_id is not None and self.router_id not in routers:
            raise ValidationError(
                f"{self.router_id} is not in the log (routers: {routers})", field="router_id"
            )

    def routers(self) -> list[int]:
        return sorted(int(r) for r in self.attempts["router_id"].dropna().unique())

    def router_label(self, router_id: int) -> str:
        """``'Name (id)'`` where the name is known, else the id."""
        name = (self.router_names or {}).get(router_id)
        return f"{name} ({router_id})" if name else str(router_id)

    def router_options(self) -> list[tuple[str, int]]:
        """The picker's ``(label, router id)`` pairs."""
        return [(self.router_label(r), r) for r in self.routers()]

    def policy(self) -> Policy:
        """The what-if policy from the current numbers (validated by :class:`Policy`)."""
        return self.base.replace(
            error_threshold=int(self.threshold),
            deadline_s=float(self.deadline_s),
            window_s=self.window_min * 60,
        )

    def router_attempts(self) -> pd.DataFrame:
        if self.router_id is None:
            return self.attempts
        return self.attempts[(self.attempts["router_id"] == self.router_id).fillna(False)]

    def compare(self) -> pd.DataFrame:
        """Dialpad's numbers against the what-if ones for the router, side by side."""
        kw = {"router_id": self.router_id, "patches": self.patches}
        table = pd.DataFrame(
            {
                f"Dialpad ({_label(self.base)})": health_summary(self.attempts, policy=self.base, **kw),
                f"what-if ({_label(self.policy())})": health_summary(
                    self.attempts, policy=self.policy(), **kw
                ),
            }
        )
        return table.loc[list(_SUMMARY_ROWS)].rename(index=_SUMMARY_ROWS)

    def simulation(self) -> pd.DataFrame:
        return simulate(self.router_attempts(), policy=self.policy(), patches=self.patches)

    def figures(self) -> dict[str, Figure]:
        """The charts under the what-if policy."""
        policy = self.policy()
        sim = self.simulation()
        name = self.router_label(self.router_id) if self.router_id is not None else "all routers"
        return {
            "errors": error_window_chart(
                sim,
                policy=policy,
                patches=self.patches,
                router_names=self.router_names,
                timezone=self.timezone,
                title=f"{name}: errors in the last {policy.window_s / 60:g} min",
            ),
            "latency": latency_chart(
                sim, policy=policy, timezone=self.timezone, title=f"{name}: routing endpoint latency"
            ),
            "outcomes": outcomes_per_hour_chart(
                sim, timezone=self.timezone, title=f"{name}: outcomes per hour"
            ),
        }


def _label(policy: Policy) -> str:
    return f"> {policy.error_threshold} / {policy.window_s / 60:g} min, {policy.deadline_s:g} s"


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def format_cell(key: str, value: Any) -> str:
    """One what-if table value as people read it: counts with separators, latencies in ms,
    shares in percent, words for the outlook; "no requests" where a latency has no data."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "no requests" if key in _MS_ROWS | _SHARE_ROWS else "–"
    if key in _MS_ROWS:
        return f"{float(value):,.0f} ms"
    if key in _SHARE_ROWS:
        return f"{float(value):.1%}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{int(value):,}"
    return str(value)


def _table_html(table: pd.DataFrame) -> str:
    keys = {label: key for key, label in _SUMMARY_ROWS.items()}
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    rows = "".join(
        f"<tr><th style='text-align:left'>{html.escape(str(i))}</th>"
        + "".join(
            f"<td style='max-width:260px;white-space:normal'>{html.escape(format_cell(keys.get(str(i), ''), v))}</td>"
            for v in row
        )
        + "</tr>"
        for i, row in zip(table.index, table.itertuples(index=False), strict=True)
    )
    return f"<table class='dpnb-health'><tr><th></th>{head}</tr>{rows}</table>"


class HealthWidget(widgets.VBox):
    """Router picker, threshold / deadline / window sliders, what-if table and charts."""

    def __init__(self, explorer: HealthExplorer, **kwargs: Any) -> None:
        self.explorer = explorer
        base = explorer.base
        style = {"description_width": "150px"}
        layout = widgets.Layout(width="480px")
        self.router = widgets.Dropdown(
            description="Router",
            options=explorer.router_options(),
            value=explorer.router_id,
            style=style,
            layout=layout,
        )
        self.threshold = widgets.IntSlider(
            description="Disable when errors >",
            value=explorer.threshold,
            min=0,
            max=max(3 * base.error_threshold, 1),
            continuous_update=False,
            style=style,
            layout=layout,
        )
        self.deadline = widgets.FloatSlider(
            description="Deadline (s)",
            value=explorer.deadline_s,
            min=0.5,
            max=2 * base.deadline_s,
            step=0.5,
            continuous_update=False,
            style=style,
            layout=layout,
        )
        self.window = widgets.IntSlider(
            description="Window (min)",
            value=int(explorer.window_min),
            min=5,
            max=int(3 * base.window_s / 60),
            step=5,
            continuous_update=False,
            style=style,
            layout=layout,
        )
        self.summary = widgets.HTML()
        self.images = {name: widgets.Image(format="png") for name in ("errors", "latency", "outcomes")}
        for control in (self.router, self.threshold, self.deadline, self.window):
            control.observe(self._on_change, names="value")
        super().__init__(
            [
                widgets.HBox(
                    [
                        # no shrinking: in JupyterLab the summary squeezed this column below the
                        # controls' 480px, hiding the dropdown's arrow and the sliders' values
                        widgets.VBox(
                            [self.router, self.threshold, self.deadline, self.window],
                            layout=widgets.Layout(flex="0 0 auto"),
                        ),
                        self.summary,
                    ]
                ),
                *self.images.values(),
            ],
            **kwargs,
        )
        self.render()

    def _on_change(self, _: Any = None) -> None:
        e = self.explorer
        e.router_id = self.router.value
        e.threshold = int(self.threshold.value)
        e.deadline_s = float(self.deadline.value)
        e.window_min = float(self.window.value)
        self.render()

    def render(self) -> None:
        """Re-draw the table and the charts from the explorer's state."""
        self.summary.value = _table_html(self.explorer.compare())
        for name, fig in self.explorer.figures().items():
            self.images[name].value = _png(fig)

    def __repr__(self) -> str:
        e = self.explorer
        return (
            f"HealthWidget(router_id={e.router_id}, threshold={e.threshold}, deadline_s={e.deadline_s:g}, "
            f"window_min={e.window_min:g})"
        )


def health_widget(
    attempts: pd.DataFrame,
    *,
    patches: Any = None,
    router_id: int | None = None,
    router_names: Mapping[int, str] | None = None,
    timezone: str | None = None,
) -> HealthWidget:
    """The health explorer for an attempts log (and the operator's PATCHes, if known);
    ``router_names`` (id -> name) labels the router picker and the chart legends; ``timezone``
    is where the charts' times are drawn (default UTC; the axis says which)."""
    return HealthWidget(
        HealthExplorer(
            attempts, patches=patches, router_id=router_id, router_names=router_names, timezone=timezone
        )
    )
