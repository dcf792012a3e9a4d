"""The replay widget: pick a log and a baseline, edit a candidate matrix, run, see what changes.

Two layers, so the logic is testable without a browser:

* :class:`ReplaySession` — plain Python: the logs to choose from, the secret
  (used, never shown), the CRM, the current matrix, where hours are read (``timezone``);
  :meth:`~ReplaySession.check` validates candidate CSV text (problems with row and column,
  shadow and timezone warnings); :meth:`~ReplaySession.run` reads the log (cached), replays
  and compares.
* :class:`ReplayWidget` — ipywidgets over a session: a log dropdown, a baseline
  dropdown (the logged decisions or the current matrix), the candidate matrix in
  a text area validated as you edit, a Run button, then what was run, the summary and the
  three charts. Tests drive ``widget.candidate.value = ...`` and ``widget.run_button.click()``.

The screen never claims more than it knows: a result is labelled with what produced it (the
log, the candidate — "edited routing_candidate.csv (1 row removed)" once the text differs from
the file — the baseline and the timezone), and it is marked **stale** (greyed, with a banner
saying what changed) the moment any input differs from what was run, valid or not.

::

    from dialpad_nb.widgets import replay_widget
    replay_widget("data", secret=SAMPLE_SECRET, crm="data/crm_contacts.csv",
                  current="data/routing_current.csv", candidate="data/routing_candidate.csv",
                  capacity="data/capacity.csv", timezone="America/Los_Angeles")
"""

from __future__ import annotations

import difflib
import html
import io
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd
import traitlets
from matplotlib.figure import Figure

from ..calls.discover import find_call_logs
from ..core.errors import DialpadError, SourceNotFound
from ..core.wording import plural
from ..rules.comparison import Comparison, compare
from ..rules.enrich import Enrichment
from ..rules.matrix import MatrixError, MatrixWarning
from ..rules.ruleset import RuleSet, load_matrix

__all__ = ["BASELINES", "CheckResult", "ReplaySession", "ReplayWidget", "describe_edit", "replay_widget"]

BASELINES: dict[str, str] = {"logged decisions": "logged", "current matrix": "current"}
"""Baseline dropdown label -> ``ReplaySession.run`` baseline."""

_STYLE = (
    "<style>.dpnb-replay-result.dpnb-stale .widget-html, .dpnb-replay-result.dpnb-stale .widget-image"
    "{opacity:0.35}"
    ".dpnb-replay-result.dpnb-stale .dpnb-stale-banner{opacity:1}"
    ".dpnb-replay .dpnb-summary table{border-collapse:collapse;font-size:12px}"
    ".dpnb-replay .dpnb-summary th,.dpnb-replay .dpnb-summary td{padding:1px 8px}</style>"
)


@dataclass
class CheckResult:
    """A candidate matrix check: the rule set, or the problems (row, column, message); warnings
    (shadowed rows, target names, timezones) never block a run."""

    rules: RuleSet | None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: MatrixError | None = None

    @property
    def ok(self) -> bool:
        return self.rules is not None


class ReplaySession:
    """Everything the replay widget does, in plain Python.

    ``timezone`` is where matrix ``hours``/``days`` are read. Left out, the current matrix's
    timezone is used when it was given one; otherwise they are read in UTC and every check
    says so (:class:`~dialpad_nb.rules.ImplicitUTCWarning`'s message, shown in the widget)."""

    def __init__(
        self,
        logs: str | os.PathLike | Iterable[str | os.PathLike] | Mapping[str, str | os.PathLike] = "data",
        *,
        secret: str | None = None,
        crm: Enrichment | str | os.PathLike | None = None,
        current: RuleSet | str | os.PathLike | None = None,
        capacity: pd.DataFrame | str | os.PathLike | None = None,
        timezone: str | None = None,
        directory: Iterable[Any] | None = None,
    ) -> None:
        self.logs: dict[str, str] = _log_options(logs)
        self._secret = secret
        self.directory = list(directory) if directory is not None else None
        if crm is not None and not isinstance(crm, Enrichment):
            crm = Enrichment.from_csv(crm)
        self.crm: Enrichment | None = crm
        if current is not None and not isinstance(current, RuleSet):
            current = load_matrix(current, timezone=timezone, directory=self.directory, warn=False)
        if current is not None and crm is not None and current.enrichment is None:
            current = current.with_enrichment(crm)
        self.current: RuleSet | None = current
        self.capacity = capacity
        self.timezone_given = timezone
        """The ``timezone`` argument (None: not given)."""
        if timezone is not None:
            self.timezone: str = timezone
            self.timezone_source = "given"
        elif current is not None and not current.implicit_utc and "date_started" in current.fields:
            self.timezone = current.timezone
            self.timezone_source = f"the timezone of {current.name}"
        else:
            self.timezone = "UTC"
            self.timezone_source = "no timezone given"
        self._cache: dict[str, tuple[pd.DataFrame, pd.DataFrame, str]] = {}

    def __repr__(self) -> str:  # the secret is never shown
        signed = ", secret=***" if self._secret else ""
        return f"ReplaySession({plural(len(self.logs), 'log')}{signed}, current={self.current!r})"

    @property
    def timezone_text(self) -> str:
        """Where hours are read, and why: ``'America/Los_Angeles (given)'``."""
        return f"{self.timezone} ({self.timezone_source})"

    # ------------------------------------------------------------------ actions

    def read(self, log: str) -> tuple[pd.DataFrame, pd.DataFrame, str]:
        """``(calls, rejects, one-line summary)`` of a log (by label or path), read once."""
        path = self.logs.get(log, log)
        if path not in self._cache:
            from ..calls.read import read_calls

            with warnings.catch_warnings():  # said in the summary line instead
                warnings.simplefilter("ignore")
                result = read_calls(path, secret=self._secret)
            calls, rejects = result
            self._cache[path] = (calls, rejects, str(result))
        return self._cache[path]

    def check(self, text: str, *, name: str = "candidate") -> CheckResult:
        """Validate candidate matrix CSV text; warnings include where its hours are read when
        that is UTC by default, and a current matrix that reads them in another timezone."""
        implicit = self.timezone_source == "no timezone given"
        try:
            rules = RuleSet.from_text(
                text,
                timezone=None if implicit else self.timezone,
                directory=self.directory,
                name=name,
                warn=False,
            )
            if self.crm is not None:
                rules = rules.with_enrichment(self.crm)
        except MatrixError as exc:
            return CheckResult(None, [str(p) for p in exc.problems], error=exc)
        notes = [w.message for w in rules.warnings]
        if rules.implicit_utc:
            notes.append(
                "hours/days rules are read in UTC because no timezone was given: pass timezone="
                "'Area/City' (e.g. 'America/Los_Angeles') to replay_widget, or fill the tz column"
            )
        cur = self.current
        if (
            cur is not None
            and cur.timezone != rules.timezone
            and "date_started" in cur.fields
            and "date_started" in rules.fields
        ):
            notes.append(
                f"the current matrix reads hours/days in {cur.timezone}, the candidate in {rules.timezone}: "
                "the same '09:00-17:00' picks different calls, so some changes would be the clock, "
                "not the rules"
            )
        return CheckResult(rules, [], notes)

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
        with warnings.catch_warnings():  # the comparison's notes say it on screen
            warnings.simplefilter("ignore")
            return compare(
                calls,
                candidate,
                baseline=base,
                capacity=self.capacity,
                directory=self.directory,
                timezone=self.timezone,
            )


def _log_options(logs: Any) -> dict[str, str]:
    """Label -> path of the logs to offer; a folder lists every call log in it. A folder or file
    that does not exist is refused here, with a message, rather than offered."""
    if isinstance(logs, (str, os.PathLike)) and not os.path.isfile(logs):
        return find_call_logs(logs)  # a folder: every call log in it; refused when missing or empty
    if isinstance(logs, Mapping):
        items = [(str(k), os.fspath(v)) for k, v in logs.items()]
    else:
        paths = [logs] if isinstance(logs, (str, os.PathLike)) else list(logs)
        items = [(os.path.basename(os.fspath(p)), os.fspath(p)) for p in paths]
    missing = [path for _, path in items if not os.path.exists(path)]
    if missing:
        raise SourceNotFound(
            f"logs: no such file or folder {', '.join(map(repr, missing))}; "
            "give a folder of call logs (e.g. 'data') or existing files"
        )
    return dict(items)


def describe_edit(original: str, edited: str) -> str:
    """How ``edited`` matrix text differs from ``original``, in rows: ``'1 row removed'``,
    ``'2 rows changed, 1 row added'``, ``'header changed'``; ``''`` when they hold the same rows
    (blank lines and trailing spaces do not count)."""

    def rows(text: str) -> list[str]:
        return [line.rstrip() for line in text.splitlines() if line.strip()]

    a, b = rows(original), rows(edited)
    parts = []
    if a[:1] != b[:1]:
        parts.append("header changed")
    counts = {"changed": 0, "added": 0, "removed": 0}
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a[1:], b=b[1:], autojunk=False).get_opcodes():
        if tag == "replace":
            both = min(i2 - i1, j2 - j1)
            counts["changed"] += both
            counts["removed"] += (i2 - i1) - both
            counts["added"] += (j2 - j1) - both
        elif tag == "delete":
            counts["removed"] += i2 - i1
        elif tag == "insert":
            counts["added"] += j2 - j1
    return ", ".join(parts + [f"{plural(n, 'row')} {what}" for what, n in counts.items() if n])


# --------------------------------------------------------------------------- the widget


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _problem_html(problems: list[str], warns: list[str]) -> str:
    out = "".join(f"<li style='color:#b42318'>{html.escape(p)}</li>" for p in problems)
    out += "".join(f"<li style='color:#8a5a00'>warning: {html.escape(w)}</li>" for w in warns)
    return f"<ul style='margin:2px 0'>{out}</ul>" if out else ""


@dataclass(frozen=True)
class _Inputs:
    log: str | None
    baseline: str
    text: str


class ReplayWidget(widgets.VBox):
    """Log + baseline + editable candidate matrix → Run → what was run, summary and charts."""

    status = traitlets.Unicode("", help="the last run's one-line result, or why it could not run")
    valid = traitlets.Bool(True, help="whether the candidate text is a valid matrix")
    stale = traitlets.Bool(False, help="whether the inputs changed since the result on screen was computed")

    def __init__(
        self,
        session: ReplaySession,
        *,
        candidate: str = "",
        baseline: str = "current",
        candidate_name: str = "candidate",
        **kwargs: Any,
    ):
        self.session = session
        self.result: Comparison | None = None
        self.checked: CheckResult | None = None
        self.candidate_name = candidate_name
        """What the starting text is called in labels (the file's name, when it came from one)."""
        self.original_text = candidate
        """The candidate text as given: edits are counted against it."""
        self.runs = 0
        self._ran: _Inputs | None = None
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
        self.timezone_line = widgets.HTML(
            f"Hours and days are read in <b>{html.escape(session.timezone_text)}</b>."
        )
        self.problems = widgets.HTML()
        self.run_button = widgets.Button(description="Run replay", button_style="primary", icon="play")
        self.stale_banner = widgets.HTML()
        self.stale_banner.add_class("dpnb-stale-banner")
        self.provenance = widgets.HTML()
        self.status_line = widgets.HTML()
        self.summary = widgets.HTML()
        self.summary.add_class("dpnb-summary")
        self.charts = {name: widgets.Image(format="png") for name in ("volume", "heatmap", "flow")}
        self.results = widgets.VBox(
            [self.stale_banner, self.provenance, self.status_line, self.summary, *self.charts.values()]
        )
        for part, name in (
            (self.timezone_line, "timezone"),
            (self.problems, "problems"),
            (self.provenance, "provenance"),
            (self.status_line, "status"),
        ):
            part.add_class(f"dpnb-{name}")  # what a browser test (or a stylesheet) finds them by
        self.results.add_class("dpnb-replay-result")
        self.candidate.observe(self._on_candidate, names="value")
        self.log_picker.observe(self._on_input, names="value")
        self.baseline.observe(self._on_input, names="value")
        self.run_button.on_click(self._on_run)
        super().__init__(
            [
                widgets.HTML(_STYLE),
                self.log_picker,
                self.baseline,
                self.candidate,
                self.timezone_line,
                self.problems,
                self.run_button,
                self.results,
            ],
            **kwargs,
        )
        self.add_class("dpnb-replay")
        self._validate(candidate)

    def __repr__(self) -> str:
        rules = len(self.checked.rules.rule_names) if self.checked and self.checked.rules else "invalid"
        return f"ReplayWidget(log={self.log_picker.value!r}, baseline={self.baseline.value!r}, candidate rules={rules})"

    # ------------------------------------------------------------------ what the inputs are

    def _inputs(self) -> _Inputs:
        return _Inputs(self.log_picker.value, str(self.baseline.value), self.candidate.value)

    def candidate_label(self, text: str | None = None) -> str:
        """What the candidate text is called on screen: its name while it is the text given,
        else ``'edited <name> (<rows changed>)'``."""
        text = self.candidate.value if text is None else text
        edit = describe_edit(self.original_text, text)
        return f"edited {self.candidate_name} ({edit})" if edit else self.candidate_name

    def _changes_since_run(self) -> list[str]:
        if self._ran is None:
            return []
        now, ran = self._inputs(), self._ran
        out = []
        if now.text != ran.text:
            edit = describe_edit(ran.text, now.text)
            out.append(f"the candidate was edited ({edit or 'whitespace only'})")
        if now.log != ran.log:
            out.append(f"the call log is now {now.log}")
        if now.baseline != ran.baseline:
            out.append(f"the baseline is now the {now.baseline}")
        return out

    # ------------------------------------------------------------------ handlers

    def _on_candidate(self, change: dict) -> None:
        self._validate(change["new"])
        self._mark_stale()

    def _on_input(self, change: dict) -> None:
        self._mark_stale()

    def _validate(self, text: str) -> CheckResult:
        self.checked = self.session.check(text, name=self.candidate_label(text))
        self.valid = self.checked.ok
        self.problems.value = _problem_html(self.checked.problems, self.checked.warnings)
        self.run_button.disabled = not self.checked.ok
        return self.checked

    def _mark_stale(self) -> None:
        changes = self._changes_since_run()
        self.stale = bool(changes)
        if not changes:
            self.stale_banner.value = ""
            return
        cannot = "" if self.valid else " The candidate does not load now: fix the problems above, then run."
        self.stale_banner.value = (
            "<div style='background:#fff4e5;border-left:4px solid #b54708;padding:4px 8px;color:#7a2e0e'>"
            f"<b>Out of date:</b> {html.escape('; '.join(changes))} since this result was computed. "
            f"It shows run {self.runs}, not the inputs above.{html.escape(cannot)} "
            "Press <b>Run replay</b> to update.</div>"
        )

    @traitlets.observe("stale")
    def _render_stale(self, change: dict) -> None:
        if change["new"]:
            self.results.add_class("dpnb-stale")
        else:
            self.results.remove_class("dpnb-stale")

    def _on_run(self, _: Any = None) -> Comparison | None:
        inputs = self._inputs()
        checked = self._validate(inputs.text)
        if checked.rules is None:
            self.status = "The candidate matrix has problems; fix them above."
            return None
        if inputs.log is None:
            self.status = "No call log to replay."
            return None
        try:
            result = self.session.run(inputs.log, BASELINES[inputs.baseline], checked.rules)
        except (DialpadError, OSError) as exc:
            self.status = f"Could not run: {exc}"
            self._mark_stale()
            return None
        self.result = result
        self.runs += 1
        self._ran = inputs
        _, rejects, read_summary = self.session.read(inputs.log)
        self.provenance.value = self._provenance_html(inputs, result, read_summary)
        self.summary.value = result._repr_html_()
        from ..charts.replay import flow_chart, hourly_heatmap, volume_chart

        self.charts["volume"].value = _png(volume_chart(result.volume))
        self.charts["heatmap"].value = _png(hourly_heatmap(result))
        self.charts["flow"].value = _png(flow_chart(result.flows))
        self.status = str(result.summary)
        self._mark_stale()
        return result

    def _provenance_html(self, inputs: _Inputs, result: Comparison, read_summary: str) -> str:
        base = (
            f"current matrix {self.session.current.name}"
            if BASELINES[inputs.baseline] == "current" and self.session.current is not None
            else "the decisions logged in the call log"
        )
        rows = {
            "Run": str(self.runs),
            "Call log": f"{inputs.log} — {read_summary}",
            "Candidate": result.summary.candidate,
            "Baseline": base,
            "Hours read in": self.session.timezone_text,
        }
        body = "".join(
            f"<tr><th style='text-align:left;padding-right:8px'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in rows.items()
        )
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.summary.notes)
        notes_html = f"<ul style='color:#8a5a00;margin:2px 0'>{notes}</ul>" if notes else ""
        return f"<table class='dpnb-ran' style='font-size:12px'>{body}</table>{notes_html}"

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
    CSV path (its text goes in the editor, and edits are counted against it) or CSV text.
    ``session_kw`` go to :class:`ReplaySession` (``secret``, ``crm``, ``current``, ``capacity``,
    ``timezone``, ``directory``)."""
    session = ReplaySession(logs, **session_kw)
    text, name = "", "candidate"
    if candidate is not None:
        given = os.fspath(candidate)
        if "\n" in given:
            text = given
        else:
            path = Path(given)
            if not path.is_file():
                raise SourceNotFound(f"candidate: no such matrix file {given!r}")
            text, name = path.read_text(encoding="utf-8"), path.name
    return ReplayWidget(session, candidate=text, baseline=baseline, candidate_name=name)
