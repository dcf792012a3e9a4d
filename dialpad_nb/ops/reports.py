"""Scheduled reports: a parameterised notebook run by papermill, exported to HTML without code.

::

    run_report("health", {"router": "support", "attempts": "data/attempts_sample.csv",
                          "names": "sample", "since": "2026-10-06", "until": "2026-10-07"},
               out="health.html")
    run_report("replay", {"calls": "data/calls_2026-10.jsonl.gz", "candidate": "data/routing_candidate.csv",
                          "baseline": "data/routing_current.csv", "timezone": "America/Los_Angeles"},
               out="replay.html")

``dialpad-nb report health|replay ... --out FILE.html`` is the same from cron or CI. The
parameters are checked *before* a kernel starts (a bad one fails at once, naming it:
:class:`~dialpad_nb.core.errors.ValidationError` with ``field``); a cell that fails stops the run
with :class:`~dialpad_nb.core.errors.ReportFailed` carrying that cell's error (the executed
notebook is kept beside ``out`` as ``<out>.failed.ipynb``). The charts are PNGs inside the HTML.

The notebooks (``ops/reports/*.ipynb``, each with a ``parameters`` cell) call
:func:`health_inputs` / :func:`replay_inputs` here, which read the data and check it again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..core.clock import to_ms
from ..core.errors import ReportFailed, ValidationError

__all__ = ["REPORTS", "HealthInputs", "check_parameters", "health_inputs", "replay_inputs", "run_report"]

HERE = Path(__file__).resolve().parent / "reports"
REPORTS: dict[str, Path] = {"health": HERE / "health_report.ipynb", "replay": HERE / "replay_report.ipynb"}
"""Each report's notebook."""

_PARAMETERS: dict[str, dict[str, Any]] = {
    "health": {
        "router": None,
        "since": None,
        "until": None,
        "attempts": None,
        "log": None,
        "names": None,
        "timezone": "UTC",
    },
    "replay": {
        "calls": None,
        "candidate": None,
        "baseline": "logged",
        "timezone": None,
        "directory": None,
        "crm": None,
        "capacity": None,
        "secret_env": None,
    },
}


def _file(params: dict[str, Any], name: str, *, required: bool = False) -> None:
    value = params.get(name)
    if value in (None, ""):
        if required:
            raise ValidationError("is required", field=name)
        return
    if not os.path.exists(str(value)):
        raise ValidationError(f"no such file {str(value)!r}", field=name)


def _timezone(params: dict[str, Any], name: str = "timezone") -> None:
    tz = params.get(name)
    if tz in (None, ""):
        return
    try:
        pd.Timestamp(0, tz=tz)
    except (KeyError, ValueError, TypeError):
        raise ValidationError(
            f"{tz!r} is not a known timezone (e.g. America/Los_Angeles)", field=name
        ) from None


def _time(params: dict[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return to_ms(value, field=name)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"{value!r} is not a time (ISO-8601, e.g. 2026-10-06T09:00Z): {exc}", field=name
        ) from None


def check_parameters(report: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """The report's full parameters (defaults filled in), or a :class:`ValidationError` naming the first
    bad one. Nothing is read beyond checking that the files named exist."""
    if report not in REPORTS:
        raise ValidationError(
            f"{report!r} is not a report; choose one of {', '.join(REPORTS)}", field="report"
        )
    known = _PARAMETERS[report]
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise ValidationError(
            f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(known)}", field=unknown[0]
        )
    params = {**known, **{k: v for k, v in parameters.items() if v is not None}}
    _timezone(params)
    if report == "health":
        if params["router"] in (None, ""):
            raise ValidationError("is required: the router's name or id", field="router")
        if params["attempts"] and params["log"]:
            raise ValidationError("give attempts or log, not both", field="log")
        _file(params, "attempts")
        _file(params, "log")
        since, until = _time(params, "since"), _time(params, "until")
        if since is not None and until is not None and since >= until:
            raise ValidationError(
                f"must be after since ({params['since']}), got {params['until']}", field="until"
            )
        if params["names"] not in (None, "sample"):
            raise ValidationError(
                f"{params['names']!r}: only 'sample' (the sample routers' names)", field="names"
            )
        if params["log"] and not str(params["router"]).isdigit():
            raise ValidationError(
                "an endpoint log does not name its router: give the router's id", field="router"
            )
    else:
        _file(params, "calls", required=True)
        _file(params, "candidate", required=True)
        if params["baseline"] != "logged":
            _file(params, "baseline")
        _file(params, "crm")
        _file(params, "capacity")
        if params["directory"] not in (None, "sample", "dialpad"):
            raise ValidationError(f"{params['directory']!r}: 'sample' or 'dialpad'", field="directory")
        if params["secret_env"] and not os.environ.get(params["secret_env"]):
            raise ValidationError(
                f"environment variable {params['secret_env']} is not set", field="secret_env"
            )
    return params


# --------------------------------------------------------------------------- what the notebooks read


@dataclass
class HealthInputs:
    """What the health report shows: one router's attempts in the period, its name and where they came from."""

    router_id: int
    router: str
    attempts: pd.DataFrame
    patches: pd.DataFrame
    source: str
    since: pd.Timestamp | None
    until: pd.Timestamp | None
    timezone: str
    notes: list[str] = field(default_factory=list)

    @property
    def period(self) -> str:
        def t(x: pd.Timestamp | None, word: str) -> str:
            return (
                word if x is None else x.tz_convert(self.timezone).strftime(f"%Y-%m-%d %H:%M {self.timezone}")
            )

        return f"{t(self.since, 'the start')} to {t(self.until, 'the end')}"


def health_inputs(**parameters: Any) -> HealthInputs:
    """Read the health report's data (see :func:`check_parameters` for the parameters)."""
    from ..health.attempts import read_attempts_csv, read_endpoint_log
    from ..health.history import from_dialpad_calls
    from ..health.window import infer_patches

    p = check_parameters("health", parameters)
    since, until = _time(p, "since"), _time(p, "until")
    router = str(p["router"])
    names: dict[int, str] = {}
    if p["names"] == "sample":
        from ..samples.attempts import SAMPLE_ROUTERS

        names = {rid: name for name, rid in SAMPLE_ROUTERS.items()}
    if p["attempts"] or p["log"]:
        if p["log"]:
            read = read_endpoint_log(p["log"], router_id=int(router))
            source = f"endpoint log {p['log']}"
        else:
            read = read_attempts_csv(p["attempts"])
            source = f"attempts file {p['attempts']}"
        attempts = read.attempts
        by_name = {n: rid for rid, n in names.items()}
        rid = by_name.get(router) if router in by_name else (int(router) if router.isdigit() else None)
        present = sorted(int(r) for r in attempts["router_id"].dropna().unique())
        if rid is None or rid not in present:
            shown = ", ".join(names.get(r, str(r)) for r in present)
            raise ValidationError(
                f"{router!r} is not a router of {source} (routers: {shown})", field="router"
            )
        notes = list(read.notes) + (
            [f"{len(read.rejects)} records refused (rejects)"] if len(read.rejects) else []
        )
    else:
        from ..connection import connect

        with connect() as client:
            found = client.find_router(router, required=True)
            assert found is not None
            rid, names = found.id, {found.id: found.name}
            window_since = pd.Timestamp(since, unit="ms", tz="UTC") if since is not None else None
            window_until = pd.Timestamp(until, unit="ms", tz="UTC") if until is not None else None
            read = from_dialpad_calls(
                client.calls(found, since=window_since, until=window_until, progress=False)
            )
            attempts = read.attempts
            source = f"Dialpad's call history ({client.label})"
            notes = list(read.notes)
    mine = attempts[(attempts["router_id"] == rid).fillna(False)]
    patches = infer_patches(mine)
    times = mine["time"].to_numpy(dtype="datetime64[ms]").astype("int64")
    keep = times == times  # every attempt, then the period
    if since is not None:
        keep &= times >= since
    if until is not None:
        keep &= times < until
    return HealthInputs(
        router_id=rid,
        router=names.get(rid, str(rid)),
        attempts=mine[keep],
        patches=patches,
        source=source,
        since=None if since is None else pd.Timestamp(since, unit="ms", tz="UTC"),
        until=None if until is None else pd.Timestamp(until, unit="ms", tz="UTC"),
        timezone=p["timezone"] or "UTC",
        notes=notes,
    )


def replay_inputs(**parameters: Any) -> tuple[Any, Any]:
    """Read the replay report's data and compare: ``(comparison, read result)``."""
    import warnings

    from ..calls.read import read_calls
    from ..rules.comparison import compare
    from ..rules.enrich import Enrichment
    from ..rules.ruleset import load_matrix

    p = check_parameters("replay", parameters)
    directory: Any = None
    if p["directory"] == "sample":
        from ..samples.company import all_targets

        directory = all_targets()
    elif p["directory"] == "dialpad":
        from ..connection import connect

        with connect() as client:
            directory = client.targets()
    secret = os.environ.get(p["secret_env"]) if p["secret_env"] else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the report prints the notes once, in the summary
        read = read_calls(p["calls"], secret=secret, progress=False)
        crm = Enrichment.from_csv(p["crm"]) if p["crm"] else None
        kw = {"timezone": p["timezone"], "directory": directory}
        candidate = load_matrix(p["candidate"], **kw).with_enrichment(crm)
        baseline: Any = (
            "logged" if p["baseline"] == "logged" else load_matrix(p["baseline"], **kw).with_enrichment(crm)
        )
        result = compare(
            read.calls, candidate, baseline=baseline, capacity=p["capacity"], directory=directory
        )
    return result, read


# --------------------------------------------------------------------------- running one

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }}
pre {{ white-space: pre-wrap; background: #f6f8fa; padding: 6px; }}
img {{ max-width: 100%; }}
table {{ border-collapse: collapse; }} th, td {{ padding: 2px 6px; border-bottom: 1px solid #ddd; text-align: left; }}
</style></head>
<body>
{body}
</body></html>
"""


def run_report(
    report: str,
    parameters: dict[str, Any],
    out: str | os.PathLike,
    *,
    kernel_name: str = "python3",
    timeout_s: float = 600.0,
) -> Path:
    """Run ``report`` (``"health"`` or ``"replay"``) with ``parameters`` and write ``out`` (HTML, no
    code, charts embedded). Returns ``out``. Raises :class:`ValidationError` (a bad parameter, before
    any kernel starts) or :class:`ReportFailed` (a cell failed: its error)."""
    import papermill
    from nbconvert import HTMLExporter

    params = check_parameters(report, parameters)
    out_path = Path(out)
    if out_path.suffix.lower() not in (".html", ".htm"):
        raise ValidationError(f"must be an .html file, got {str(out)!r}", field="out")
    if not out_path.parent.exists():
        raise ValidationError(f"no such folder {str(out_path.parent)!r}", field="out")
    executed = out_path.with_name(out_path.name + ".failed.ipynb")
    try:
        nb = papermill.execute_notebook(
            str(REPORTS[report]),
            str(executed),
            parameters={k.upper(): v for k, v in params.items()},
            kernel_name=kernel_name,
            progress_bar=False,
            log_output=False,
            execution_timeout=timeout_s,
            cwd=os.getcwd(),
        )
    except papermill.PapermillExecutionError as exc:
        evalue = str(exc.evalue)
        raise ReportFailed(
            f"the {report} report failed at cell {exc.exec_count}: {exc.ename}: {evalue} "
            f"(the executed notebook: {executed})",
            cell=exc.exec_count,
            ename=str(exc.ename),
            evalue=evalue,
            notebook=str(executed),
        ) from None
    # nbconvert's "basic" body (no code, no prompts) in a page of our own: the "lab" page links
    # require.js, MathJax and mermaid from CDNs, which a report read offline cannot load
    exporter = HTMLExporter(
        template_name="basic", exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    body, _ = exporter.from_notebook_node(nb)
    title = {"health": "Router health report", "replay": "Replay report"}[report]
    out_path.write_text(_PAGE.format(title=title, body=body), encoding="utf-8")
    executed.unlink(missing_ok=True)
    return out_path
