"""The replay widget: pick a log and a baseline, edit a candidate matrix, run, see what changes.

Two layers, so the logic is testable without a browser:

* :class:`ReplaySession` — plain Python: the logs to choose from, the secret
  (used, never shown), the CRM, the current matrix; :meth:`~ReplaySession.check`
  validates candidate CSV text (problems with row and column, shadow warnings);
  :meth:`~ReplaySession.run` reads the log (cached), replays and compares.
* :class:`ReplayWidget` — ipywidgets over a session: a log dropdown, a baseline
  dropdown (the logged decisions or the current matrix), the candidate matrix in
  a text area validated as you edit, a Run button, then the summary and the three
  charts. Tests drive ``widget.candidate.value = ...`` and ``widget.run_button.click()``.

::

    from dialpad_nb.widgets.replay import replay_widget
    replay_widget("data", secret=datagen.SAMPLE_SECRET, crm="data/crm_contacts.csv",
                  current="data/routing_current.csv", candidate="data/routing_candidate.csv",
                  capacity="data/capacity.csv", timezone="America/Los_Angeles")
"""

from __future__ import annotations

import glob
import html
import io
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import pandas as pd
import traitlets
from matplotlib.figure import Figure

from ..core.errors import DialpadError
from ..rules.comparison import Comparison, compare
from ..rules.enrich import Enrichment
from ..rules.matrix import MatrixError, MatrixWarning
from ..rules.ruleset import RuleSet, load_matrix

__all__ = ["BASELINES", "CheckResult", "ReplaySession", "ReplayWidget", "replay_widget"]

BASELINES: dict[str, str] = {"logged decisions": "logged", "current matrix": "current"}
"""Baseline dropdown label -> ``ReplaySession.run`` baseline."""

_LOG_PATTERNS = ("calls_*.jsonl", "calls_*.jsonl.gz", "calls_*.csv", "calls_*.parquet", "*.endpoint.jsonl")


@dataclass
class CheckResult:
    """A candidate matrix check: the rule set, or the problems (row, column, message)."""

    rules: RuleSet | None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: MatrixError | None = None

    @property
    def ok(self) -> bool:
        return self.rules is not None


class ReplaySession:
    """Everything the replay widget does, in plain Python."""

    def __init__(
        self,
        logs: str | os.PathLike | Iterable[str | os.PathLike] | Mapping[str, str | os.PathLike] = "data",
        *,
        secret: str | None = None,
        crm: Enrichment | str | os.PathLike | None = None,
        current: RuleSet | str | os.PathLike | None = None,
        capacity: pd.DataFrame | str | os.PathLike | None = None,
        timezone: str = "UTC",
        directory: Iterable[Any] | None = None,
    ) -> None:
        self.logs: dict[str, str] = _log_options(logs)
        self._secret = secret
        self.timezone = timezone
        self.directory = directory
        if crm is not None and not isinstance(crm, Enrichment):
            crm = Enrichment.from_csv(crm)
        self.crm: Enrichment | None = crm
        if current is not None and not isinstance(current, RuleSet):
            current = load_matrix(current, timezone=timezone, directory=directory, warn=False)
        if current is not None and crm is not None and current.enrichment is None:
            current = current.with_enrichment(crm)
        self.current: RuleSet | None = current
        self.capacity = capacity
        self._cache: dict[str, tuple[pd.DataFrame, pd.DataFrame, str]] = {}

    def __repr__(self) -> str:  # the secret is never shown
        signed = ", secret=***" if self._secret else ""
        return f"ReplaySession({len(self.logs)} logs{signed}, current={self.current!r})"

    # ------------------------------------------------------------------ actions

    def read(self, log: str) -> tuple[pd.DataFrame, pd.DataFrame, str]:
        """``(calls, rejects, one-line summary)`` of a log (by label or path), read once."""
        path = self.logs.get(log, log)
        if path not in self._cache:
            from ..calls.read import read_calls

            result = read_calls(path, secret=self._secret)
            calls, rejects = result
            self._cache[path] = (calls, rejects, str(result))
        return self._cache[path]

    def check(self, text: str, *, name: str = "candidate") -> CheckResult:
        """Validate candidate matrix CSV text."""
        try:
            rules = RuleSet.from_text(
                text, timezone=self.timezone, directory=self.directory, name=name, warn=False
            )
            if self.crm is not None:
                rules = rules.with_enrichment(self.crm)
        except MatrixError as exc:
            return CheckResult(None, [str(p) for p in exc.problems], error=exc)
        return CheckResult(rules, [], [w.message for w in rules.warnings])

    def run(self, log: str, baseline: str, candidate: str | RuleSet) -> Comparison:
        """Replay ``log`` through ``candidate`` (CSV text or a RuleSet) against ``baseline``
        (``"logged"`` or ``"current"``). Raises DialpadError with a readable message."""
        if isinstance(candidate, str):
            checked = self.check(candidate)
            if checked.rules is None:
                raise checked.error or DialpadError("the candidate matrix has problems")
            candidate = checked.rules
        if baseline == "current":
            if self.current is None:
                raise DialpadError("no current matrix was given: compare against the logged decisions")
            base: Any = self.current
        elif baseline == "logged":
            base = "logged"
        else:
            raise DialpadError(f"unknown baseline {baseline!r}; expected 'logged' or 'current'")
        calls, _, _ = self.read(log)
        return compare(
            calls,
            candidate,
            baseline=base,
            capacity=self.capacity,
            directory=self.directory,
            timezone=self.timezone,
        )


def _log_options(logs: Any) -> dict[str, str]:
    if isinstance(logs, Mapping):
        return {str(k): os.fspath(v) for k, v in logs.items()}
    if isinstance(logs, (str, os.PathLike)):
        path = os.fspath(logs)
        if os.path.isdir(path):
            found = sorted({p for pat in _LOG_PATTERNS for p in glob.glob(os.path.join(path, pat))})
            return {os.path.basename(p): p for p in found}
        return {os.path.basename(path): path}
    return {os.path.basename(os.fspath(p)): os.fspath(p) for p in logs}


# --------------------------------------------------------------------------- the widget


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _problem_html(problems: list[str], warns: list[str]) -> str:
    out = "".join(f"<li style='color:#b42318'>{html.escape(p)}</li>" for p in problems)
    out += "".join(f"<li style='color:#8a5a00'>warning: {html.escape(w)}</li>" for w in warns)
    return f"<ul style='margin:2px 0'>{out}</ul>" if out else ""


class ReplayWidget(widgets.VBox):
    """Log + baseline + editable candidate matrix → Run → summary and charts."""

    status = traitlets.Unicode("", help="the last run's one-line result, or why it could not run")
    valid = traitlets.Bool(True, help="whether the candidate text is a valid matrix")

    def __init__(
        self, session: ReplaySession, *, candidate: str = "", baseline: str = "current", **kwargs: Any
    ):
        self.session = session
        self.result: Comparison | None = None
        self.checked: CheckResult | None = None
        wide = widgets.Layout(width="560px")
        self.log_picker = widgets.Dropdown(description="Call log", options=list(session.logs), layout=wide)
        labels = [lb for lb, key in BASELINES.items() if key == "logged" or session.current is not None]
        start = next((lb for lb in labels if BASELINES[lb] == baseline), labels[0])
        self.baseline = widgets.Dropdown(description="Baseline", options=labels, value=start, layout=wide)
        self.candidate = widgets.Textarea(
            value=candidate,
            description="Candidate",
            continuous_update=False,
            layout=widgets.Layout(width="100%", height="220px"),
        )
        self.problems = widgets.HTML()
        self.run_button = widgets.Button(description="Run replay", button_style="primary", icon="play")
        self.status_line = widgets.HTML()
        self.summary = widgets.HTML()
        self.charts = {name: widgets.Image(format="png") for name in ("volume", "heatmap", "flow")}
        self.candidate.observe(self._on_candidate, names="value")
        self.run_button.on_click(self._on_run)
        super().__init__(
            [
                self.log_picker,
                self.baseline,
                self.candidate,
                self.problems,
                self.run_button,
                self.status_line,
                self.summary,
                *self.charts.values(),
            ],
            **kwargs,
        )
        self._validate(candidate)

    def __repr__(self) -> str:
        rules = len(self.checked.rules.rule_names) if self.checked and self.checked.rules else "invalid"
        return f"ReplayWidget(log={self.log_picker.value!r}, baseline={self.baseline.value!r}, candidate rules={rules})"

    # ------------------------------------------------------------------ handlers

    def _on_candidate(self, change: dict) -> None:
        self._validate(change["new"])

    def _validate(self, text: str) -> CheckResult:
        self.checked = self.session.check(text)
        self.valid = self.checked.ok
        self.problems.value = _problem_html(self.checked.problems, self.checked.warnings)
        self.run_button.disabled = not self.checked.ok
        return self.checked

    def _on_run(self, _: Any = None) -> Comparison | None:
        checked = self._validate(self.candidate.value)
        if checked.rules is None:
            self.status = "The candidate matrix has problems; fix them above."
            return None
        if self.log_picker.value is None:
            self.status = "No call log to replay."
            return None
        try:
            result = self.session.run(self.log_picker.value, BASELINES[self.baseline.value], checked.rules)
        except (DialpadError, OSError) as exc:
            self.status = f"Could not run: {exc}"
            self.result = None
            return None
        self.result = result
        self.summary.value = result._repr_html_()
        from ..charts.replay import flow_chart, hourly_heatmap, volume_chart

        self.charts["volume"].value = _png(volume_chart(result.volume))
        self.charts["heatmap"].value = _png(hourly_heatmap(result.decisions, timezone=result.timezone))
        self.charts["flow"].value = _png(flow_chart(result.flows))
        self.status = str(result.summary)
        return result

    @traitlets.observe("status")
    def _render_status(self, change: dict) -> None:
        ok = self.result is not None and change["new"] == str(self.result.summary)
        color = "#1f1f1f" if ok else "#b42318"
        self.status_line.value = f"<b style='color:{color}'>{html.escape(change['new'])}</b>"

    def matrix_warnings(self) -> list[MatrixWarning]:
        return list(self.checked.rules.warnings) if self.checked and self.checked.rules else []


def replay_widget(
    logs: Any = "data",
    *,
    candidate: str | os.PathLike | None = None,
    baseline: str = "current",
    **session_kw: Any,
) -> ReplayWidget:
    """A :class:`ReplayWidget` over a new :class:`ReplaySession`; ``candidate`` is a matrix
    CSV path (its text goes in the editor) or CSV text."""
    session = ReplaySession(logs, **session_kw)
    text = ""
    if candidate is not None:
        candidate = os.fspath(candidate)
        text = candidate if "\n" in candidate else open(candidate, encoding="utf-8").read()
    return ReplayWidget(session, candidate=text, baseline=baseline)
