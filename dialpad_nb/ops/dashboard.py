"""The ops dashboard: the fleet at a glance, refreshed on a timer, with a drill-down per router.

Served by Voila (``dialpad-nb dashboard``, ``make dashboard``) over the package's
``dashboard.ipynb``, whose one cell is :func:`dashboard_from_env`. It can be shown in any
notebook too: ``FleetDashboard(SandboxSource(client), client=client)``.

* **Fleet view**: every router with its status colour, enabled or not, its numbers, the errors of
  the rolling hour, the error budget left, the forecast time to disable, the last disable and
  re-enable; most urgent first. A timer (a thread in the page's kernel) refreshes it without
  reloading: only new attempts are read (:class:`~dialpad_nb.health.FleetTracker`).
* **Banner** when a router is near the threshold or disabled (``core.policy.WARNING_LEVELS``).
* **Drill-down**: the router's error window against the threshold, its latency against the
  deadline, its recent calls (targets by name), and the console's actions: *Enable + reset
  errors* is one click (Dialpad's one-PATCH-per-5-min guard answers in words), *Delete* needs
  the router's name typed.
* **Safe**: building and refreshing only read. Nothing changes until a person clicks.
* **Source down**: the dashboard says so, keeps the last good numbers with their age, and
  retries at every tick; it never blanks or shows a traceback.
"""

from __future__ import annotations

import html
import io
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import pandas as pd

from ..api.console import RouterConsole, describe_error
from ..charts.health import error_window_chart, latency_chart
from ..charts.tables import show_table
from ..core.clock import format_time
from ..core.errors import DialpadError
from ..core.policy import DIALPAD, WARNING_LEVELS, WarningLevels
from ..health.tracker import LEVEL_COLOURS, FleetTracker
from ..health.window import error_count_curve, infer_patches, make_patches, simulate
from .sources import Source

__all__ = ["FleetDashboard", "dashboard_from_env"]

ENV_DEMO = "DIALPAD_NB_DASHBOARD_DEMO"
ENV_INTERVAL = "DIALPAD_NB_DASHBOARD_INTERVAL_S"
ENV_TIMEZONE = "DIALPAD_NB_DASHBOARD_TIMEZONE"
ENV_LOG = "DIALPAD_NB_DASHBOARD_LOG"
ENV_LOG_ROUTER = "DIALPAD_NB_DASHBOARD_ROUTER_ID"

_HEADERS = {
    "level": "Status",
    "router": "Router",
    "enabled": "Enabled",
    "numbers": "Numbers",
    "errors_in_window": "Errors, last hour",
    "budget_left": "Budget left",
    "disable_eta_min": "Disabled in (forecast)",
    "last_disable": "Last disabled",
    "last_reenable": "Last re-enabled",
    "last_attempt": "Last call",
}


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


def _eta_text(minutes: float) -> str:
    if minutes != minutes:  # NaN: never at this pace
        return "not on course"
    return f"~{minutes:.0f} min"


class FleetDashboard(widgets.VBox):
    """The dashboard over one source (see the module docstring). ``source`` may be a callable that
    makes the source (tried again at every tick while it fails, e.g. a server not up yet)."""

    def __init__(
        self,
        source: Source | Callable[[], Source],
        *,
        client: Any = None,
        interval_s: float = 10.0,
        timezone: str = "UTC",
        levels: WarningLevels = WARNING_LEVELS,
        note: str = "",
    ) -> None:
        self._factory = source if callable(source) and not hasattr(source, "poll") else None
        self.source: Source | None = None if self._factory is not None else source  # type: ignore[assignment]
        self.client = client
        self.timezone = timezone
        self.interval_s = float(interval_s)
        self.tracker = FleetTracker(levels=levels)
        self.console: RouterConsole | None = None if client is None else RouterConsole(client)
        self.last_good_ms: int | None = None
        self._last_good_wall: float | None = None
        self.error: str | None = None
        self.refreshes = 0
        self._drawn: tuple[int, int] | None = None

        self.title = widgets.HTML(
            f"<h2 style='margin:0'>Call routers: fleet health</h2><div>{html.escape(note)}</div>"
        )
        self.status = widgets.HTML()
        self.banner = widgets.HTML()
        self.fleet = widgets.HTML()
        self.auto = widgets.ToggleButton(
            value=True,
            description=f"Auto-refresh every {self.interval_s:g} s",
            layout=widgets.Layout(width="auto"),
        )
        self.refresh_button = widgets.Button(description="Refresh now")
        self.selector = widgets.Dropdown(description="Router", options=[], value=None)
        self.window_chart = widgets.Image(format="png", layout=widgets.Layout(width="49%", display="none"))
        self.latency_chart = widgets.Image(format="png", layout=widgets.Layout(width="49%", display="none"))
        self.calls = widgets.HTML()
        self.guard = widgets.HTML()
        self.enable_reset_button = widgets.Button(
            description="Enable + reset errors", button_style="success", layout=widgets.Layout(width="auto")
        )
        self.disable_button = widgets.Button(description="Disable", button_style="warning")
        self.confirm = widgets.Text(
            description="Type its name", placeholder="to delete", style={"description_width": "initial"}
        )
        self.delete_button = widgets.Button(description="Delete router", button_style="danger", disabled=True)
        self.action_status = widgets.HTML()
        actions = widgets.VBox(
            [
                widgets.HBox([self.enable_reset_button, self.disable_button]),
                widgets.HBox([self.confirm, self.delete_button]),
                self.guard,
                self.action_status,
            ]
        )
        self.drill = widgets.VBox(
            [
                widgets.HTML("<h3>Drill-down</h3>"),
                self.selector,
                widgets.HBox([self.window_chart, self.latency_chart]),
                self.calls,
                actions,
            ]
        )
        super().__init__(
            [
                self.title,
                widgets.HBox([self.auto, self.refresh_button]),
                self.status,
                self.banner,
                self.fleet,
                self.drill,
            ]
        )
        self.add_class("dpnb-dashboard")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.selector.observe(lambda _: self._on_select(), names="value")
        self.confirm.observe(self._on_confirm, names="value")
        self.enable_reset_button.on_click(lambda _: self._act("enable"))
        self.disable_button.on_click(lambda _: self._act("disable"))
        self.delete_button.on_click(lambda _: self._act("delete"))
        self._lock = threading.RLock()  # the timer's thread and a person's clicks take turns
        self._stop = threading.Event()
        self.refresh()
        self._timer = threading.Thread(target=self._tick, name="dashboard-timer", daemon=True)
        self._timer.start()

    def _tick(self) -> None:
        """The timer: a refresh every ``interval_s`` while auto-refresh is on, until :meth:`stop`."""
        while not self._stop.wait(self.interval_s):
            if self.auto.value:
                self.refresh()

    def stop(self) -> None:
        """Stop the timer (the page's kernel ends it anyway when the page is closed)."""
        self._stop.set()

    def __repr__(self) -> str:
        return f"<FleetDashboard: {len(self.tracker.routers)} routers, {self.refreshes} refreshes>"

    # ------------------------------------------------------------------ data

    def refresh(self) -> None:
        """Read what is new from the source (never changes anything) and redraw."""
        with self._lock:
            self._refresh()

    def _refresh(self) -> None:
        self.refreshes += 1
        try:
            if self.source is None:
                assert self._factory is not None
                self.source = self._factory()
                if self.console is None and getattr(self.source, "client", None) is not None:
                    self.client = self.source.client  # type: ignore[attr-defined]
                    self.console = RouterConsole(self.client)
            self.last_good_ms = self.source.poll(self.tracker)
            self._last_good_wall = time.monotonic()
            self.error = None
        except Exception as exc:  # the page must never show a traceback: say it, keep the last data
            self.error = (
                describe_error(exc) if isinstance(exc, DialpadError) else f"{type(exc).__name__}: {exc}"
            )
        self._render()

    def _render(self) -> None:
        self._render_status()
        if self.last_good_ms is None:
            return
        table = self.tracker.table(self.last_good_ms)
        self._render_banner()
        self._render_fleet(table)
        options = [(str(r), int(rid)) for rid, r in zip(table["router_id"], table["router"], strict=True)]
        options = sorted(options, key=lambda o: o[0].casefold())
        if [o[1] for o in options] != [o[1] for o in self.selector.options]:
            keep = self.selector.value
            self.selector.options = options
            self.selector.value = keep if keep in [o[1] for o in options] else None
        self._draw_router()

    def _render_status(self) -> None:
        every = f"refreshed every {self.interval_s:g} s"
        label = html.escape(self.source.label) if self.source is not None else "the source"
        if self.error is None and self.last_good_ms is not None:
            self.status.value = (
                f"<div class='dpnb-status'>Data from {label}, as of {format_time(self.last_good_ms)} "
                f"(the source's clock); {every}.</div>"
            )
            return
        if self.last_good_ms is None:
            kept = "No data yet."
        else:
            age = time.monotonic() - (self._last_good_wall or time.monotonic())
            kept = (
                f"Showing the last good data, as of {format_time(self.last_good_ms)} "
                f"(read {age:.0f} s ago): it may be stale."
            )
        self.status.value = (
            "<div class='dpnb-status dpnb-unreachable' style='background:#fff3cd;padding:6px;border:1px solid #e0a800'>"
            f"<b>Source unreachable</b> ({label}): {html.escape((self.error or '').rstrip('.'))}. {kept} "
            f"Retrying every {self.interval_s:g} s.</div>"
        )

    def _render_banner(self) -> None:
        assert self.last_good_ms is not None
        items = []
        for rid, _r in sorted(self.tracker.routers.items(), key=lambda kv: (kv[1].name or "").casefold()):
            level = self.tracker.level(rid, self.last_good_ms)
            if level in ("warning", "disabled"):
                colour = LEVEL_COLOURS[level]
                word = "DISABLED" if level == "disabled" else "Near auto-disable"
                items.append(
                    f"<li style='color:{colour}'><b>{word}</b>: "
                    f"{html.escape(self.tracker.describe(rid, self.last_good_ms))}</li>"
                )
        if not items:
            self.banner.value = ""
            return
        levels = self.tracker.levels
        self.banner.value = (
            "<div class='dpnb-banner' style='border:2px solid #c62828;background:#fdecea;padding:6px'>"
            f"<b>Routers need attention</b> (warning at a budget of {levels.warn_budget} or less, or a "
            f"forecast under {levels.warn_eta_s / 60:g} min):<ul style='margin:4px 0'>{''.join(items)}</ul></div>"
        )

    def _render_fleet(self, table: pd.DataFrame) -> None:
        shown = table[list(_HEADERS)].copy()
        shown["enabled"] = shown["enabled"].map({True: "yes", False: "NO"})
        shown["disable_eta_min"] = [
            "—" if lvl == "disabled" else _eta_text(m)
            for lvl, m in zip(table["level"], table["disable_eta_min"], strict=True)
        ]
        text = show_table(
            shown,
            timezone=self.timezone,
            missing={"last_disable": "never", "last_reenable": "—", "last_attempt": "—", "numbers": "—"},
        ).text
        head = "".join(
            f"<th style='text-align:left;padding:2px 8px'>{html.escape(h)}</th>" for h in _HEADERS.values()
        )
        rows = []
        for i, colour in enumerate(table["colour"]):
            cells = [
                f"<td style='padding:2px 8px'><span style='color:{colour}'>●</span> {html.escape(str(text.iloc[i]['level']))}</td>"
            ]
            cells += [
                f"<td style='padding:2px 8px'>{html.escape(str(text.iloc[i][c]))}</td>"
                for c in list(_HEADERS)[1:]
            ]
            rows.append(
                f"<tr class='dpnb-router' style='border-left:6px solid {colour}'>{''.join(cells)}</tr>"
            )
        body = "".join(rows) or f"<tr><td colspan='{len(_HEADERS)}'>No routers.</td></tr>"
        self.fleet.value = (
            f"<table class='dpnb-fleet' style='border-collapse:collapse'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>"
            f"<div style='font-size:smaller'>Times in {html.escape(self.timezone)}. Threshold: more than "
            f"{DIALPAD.error_threshold} errors in {DIALPAD.window_s / 60:g} min disables a router.</div>"
        )

    # ------------------------------------------------------------------ drill-down

    def _known_reenable(self, rid: int, attempts: pd.DataFrame, patches: pd.DataFrame) -> pd.DataFrame:
        """``patches`` plus a re-enable the source reported after the router's last call (the
        attempts cannot show one that no call followed yet), as a reset when the source's window
        is empty now while the attempts alone would still hold errors."""
        standing = self.tracker.routers.get(rid)
        now = self.last_good_ms
        if standing is None or now is None or standing.last_reenable_ms is None:
            return patches
        if standing.last_reenable_ms <= (standing.last_attempt_ms or 0):
            return patches
        held = error_count_curve(simulate(attempts, patches=patches), router_id=rid, patches=patches)
        held = held[held["time"] <= pd.Timestamp(now, unit="ms", tz="UTC")]
        would_hold = int(held["error_count"].iloc[-1]) if len(held) else 0
        reset = would_hold > 0 and standing.state.error_count(now) == 0
        # seen at the poll of last_reenable_ms, so it happened by then: a PATCH at t applies from t + 1 ms
        extra = make_patches([(standing.last_reenable_ms - 1, rid, True, reset)])
        return pd.concat([patches, extra], ignore_index=True) if len(patches) else extra

    def _draw_router(self, force: bool = False) -> None:
        rid = self.selector.value
        if rid is None or self.source is None:
            return
        standing = self.tracker.routers.get(rid)
        key = (rid, standing.calls if standing else 0)
        if not force and key == self._drawn:
            return
        try:
            attempts = self.source.router_attempts(rid)
            directory = self.source.directory()
        except Exception as exc:
            self.calls.value = f"<i>Could not read this router's calls: {html.escape(str(exc))}</i>"
            return
        self._drawn = key
        name = standing.name if standing and standing.name else str(rid)
        if attempts.empty:
            self.window_chart.layout.display = self.latency_chart.layout.display = "none"
            self.calls.value = f"<i>No calls through {html.escape(name)} yet.</i>"
        else:
            patches = infer_patches(attempts)  # re-enables and resets the log shows
            patches = self._known_reenable(rid, attempts, patches)
            sim = simulate(attempts, patches=patches)
            self.window_chart.value = _png(
                error_window_chart(
                    sim,
                    patches=patches,
                    router_names={rid: name},
                    timezone=self.timezone,
                    title=f"{name}: errors in the last hour",
                    until=self.last_good_ms,  # the source's now: no line drawn into the future
                )
            )
            self.latency_chart.value = _png(
                latency_chart(
                    attempts,
                    timezone=self.timezone,
                    title=f"{name}: latency against the {DIALPAD.deadline_s:g} s deadline",
                )
            )
            self.window_chart.layout.display = self.latency_chart.layout.display = ""
            recent = attempts.sort_values("time").tail(10).iloc[::-1]

            def target(row: Any) -> str:
                if pd.isna(row["target_id"]):
                    return ""
                if directory is None:
                    return f"{row['target_type']} {row['target_id']}"
                return str(directory.name_of(int(row["target_id"]), str(row["target_type"])))

            frame = pd.DataFrame(
                {
                    "time": recent["time"],
                    "outcome": recent["outcome"].astype(str),
                    "latency_ms": recent["latency_ms"],
                    "routed_to": [target(r) for _, r in recent.iterrows()],
                }
            )
            shown = show_table(frame, timezone=self.timezone, missing={"latency_ms": "—"})
            self.calls.value = f"<h4>Recent calls through {html.escape(name)}</h4>" + shown._repr_html_()
        if self.console is not None:
            self.guard.value = (
                f"<div class='dpnb-guard'>Dialpad allows one update per router every "
                f"{DIALPAD.patch_interval_s / 60:g} min; the next update of {html.escape(name)} is allowed: "
                f"{html.escape(self.console.next_update_text(rid))}.</div>"
            )
        self._on_confirm()

    def _on_select(self) -> None:
        with self._lock:
            self._draw_router(force=True)

    def _selected_name(self) -> str | None:
        rid = self.selector.value
        standing = self.tracker.routers.get(rid) if rid is not None else None
        return None if standing is None else standing.name

    def _on_confirm(self, _: Any = None) -> None:
        name = self._selected_name()
        self.delete_button.disabled = name is None or self.confirm.value.strip() != name

    def _act(self, what: str) -> None:
        """Run one console action on the selected router (a person clicked), then refresh."""
        with self._lock:
            self._act_now(what)

    def _act_now(self, what: str) -> None:
        rid = self.selector.value
        if rid is None:
            return
        if self.console is None:
            self.action_status.value = "<i>No actions: this source (a log file) is not an account.</i>"
            return
        if not self.console.routers:
            self.console.refresh()
        if what == "enable":
            result = self.console.enable(rid, reset_error_count=True)
        elif what == "disable":
            result = self.console.disable(rid)
        else:
            result = self.console.delete(rid, self.confirm.value)
            if result.ok:
                self.tracker.routers.pop(rid, None)
                self.confirm.value = ""
        self.action_status.value = result._repr_html_()
        self.refresh()
        self._draw_router(force=True)


def _demo(client: Any) -> str:
    """Sample traffic on an embedded sandbox (``--demo`` only): four routers, one healthy endpoint
    and one failing; returns a note saying it is sample data."""
    from ..core.serving import serve_app
    from .demo_endpoint import demo_endpoint

    reception = client.resolve_target("Reception")
    ok_app = serve_app(demo_endpoint(reception.id, reception.type), name="demo-endpoint")
    bad_app = serve_app(demo_endpoint(None, None), name="demo-failing-endpoint")
    client._dashboard_demo_apps = (ok_app, bad_app)  # they live as long as the dashboard's client
    control = client.control
    plan = [
        ("Support line", ok_app, 0, 20),
        ("Sales line", ok_app, 0, 12),
        ("Returns line", bad_app, 8, 0),
        ("Billing line", bad_app, 11, 0),
    ]
    calls = []
    for name, app, bad, good in plan:
        router = client.create_router(name=name, routing_url=app.url + "/route", default_target="Reception")
        number = client.assign_number(router.id, area_code="415").number
        calls.append((number, bad, good))
    start = control.clock()
    batch = []
    for number, bad, _good in calls:
        batch += [{"to": number, "from": "+12065550100", "at": start + (i + 1) * 60_000} for i in range(bad)]
    control.place_calls(sorted(batch, key=lambda c: c["at"]))
    control.advance(30 * 60)
    start = control.clock()
    batch = []
    for number, _bad, good in calls:
        batch += [{"to": number, "from": "+12065550101", "at": start + (i + 1) * 60_000} for i in range(good)]
    control.place_calls(sorted(batch, key=lambda c: c["at"]))
    return "DEMO: sample traffic on an embedded sandbox (started with --demo); nothing here is your account."


def dashboard_from_env(environ: Any = None) -> FleetDashboard:
    """The dashboard ``dialpad-nb dashboard`` serves: its settings come from the environment Voila
    gives the kernel (``connect()``'s ``DIALPAD_*`` variables, and ``DIALPAD_NB_DASHBOARD_*``)."""
    env = os.environ if environ is None else environ
    interval = float(env.get(ENV_INTERVAL) or 10)
    tz = env.get(ENV_TIMEZONE) or "UTC"
    if env.get(ENV_LOG):
        from .sources import LogSource

        source = LogSource(env[ENV_LOG], router_id=int(env[ENV_LOG_ROUTER]))
        return FleetDashboard(source, interval_s=interval, timezone=tz, note=f"Endpoint log {env[ENV_LOG]}")
    from ..connection import connect
    from .sources import HistorySource, SandboxSource

    if env.get(ENV_DEMO) == "1":
        client = connect({})
        note = _demo(client)
    else:
        if not (env.get("DIALPAD_API_KEY") or "").strip():
            client = connect({})
            note = (
                "An empty embedded sandbox: set DIALPAD_API_KEY (and DIALPAD_BASE_URL for a "
                "`dialpad-nb sandbox --db FILE`) to watch your routers, or start with --demo for sample traffic."
            )
        else:  # connected at the first tick that reaches it (a server not up yet is retried)
            holder: dict[str, Any] = {}

            def make_remote() -> Source:
                if "client" not in holder:
                    holder["client"] = connect(env)
                c = holder["client"]
                return SandboxSource(c) if c.capabilities.control_api else HistorySource(c)

            where = env.get("DIALPAD_BASE_URL") or env.get("DIALPAD_ENV") or "Dialpad"
            note = f"Routers of {where} (DIALPAD_API_KEY)."
            return FleetDashboard(make_remote, interval_s=interval, timezone=tz, note=note)

    def make() -> Source:
        return SandboxSource(client)

    return FleetDashboard(make, client=client, interval_s=interval, timezone=tz, note=note)
