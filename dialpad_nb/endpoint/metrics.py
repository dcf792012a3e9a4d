"""The endpoint's Prometheus metrics (``GET /metrics``), counted from its log records.

Every request's log record goes through :meth:`EndpointMetrics.observe`, so what ``/metrics``
counts and what the log holds agree by construction (``tests/test_endpoint_serving.py`` scrapes
a two-worker endpoint and compares). Metrics (all prefixed ``dialpad_endpoint_``):

========================================  =========  ==============================================
``requests_total{outcome}``               counter    every request, by logged outcome
``fallbacks_total{reason}``               counter    fallback answers, by :data:`FALLBACK_REASONS`
``rule_hits_total{rule}``                 counter    answers a named rule gave (matrix rows: every
                                                     rule of the loaded matrix is listed, hit or not)
``request_duration_seconds``              histogram  receipt to answer; buckets around Dialpad's
                                                     deadline (:func:`latency_buckets`)
``in_flight_requests``                    gauge      requests being answered now
``reloads_total{result,trigger}``         counter    rule loads: ``loaded`` or ``refused``
``reload_refused``                        gauge      1 while the last reload was refused and the
                                                     previous rules still serve
``rules_loaded_timestamp_seconds``        gauge      when the serving rules were loaded
``shadow_results_total{shadow,result}``   counter    each shadow's result against the control's:
                                                     :data:`SHADOW_VERDICTS` (match, mismatch,
                                                     timeout, error, busy, control_failed)
``canary_requests_total{side,answered_by}`` counter  requests by canary side and by whose answer
                                                     was sent (a failing candidate: the control)
``canary_share{candidate}``               gauge      the share of callers a candidate answers
``canary_stopped{candidate}``             gauge      1 once the canary stopped the candidate
========================================  =========  ==============================================

Labels are outcomes, reasons, rule, shadow and candidate names and triggers only: never the
secret, the admin token, a caller or any CRM value.

**Several workers.** When ``PROMETHEUS_MULTIPROC_DIR`` is set (``dialpad-nb endpoint
--workers N`` sets it to a fresh folder), prometheus-client's multiprocess mode is on: each
worker writes its values to files there and any worker's ``/metrics`` sums them all (gauges
per live worker). A worker that died is swept from the live gauges at the next scrape.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..core.endpoint_log import (
    FALLBACK_REASONS,
    LOG_OUTCOMES,
    RELOAD_TRIGGERS,
    SHADOW_VERDICTS,
    BadLogRecord,
    Experiment,
    LogRecord,
    check_record,
    experiment_of,
    fallback_reason,
    shadow_verdict,
)
from ..core.policy import DIALPAD, Policy

__all__ = ["MULTIPROC_ENV", "EndpointMetrics", "latency_buckets"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""The environment variable that turns prometheus-client's multiprocess mode on."""

_DEADLINE_FRACTIONS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.2, 2.0)


def latency_buckets(policy: Policy = DIALPAD) -> tuple[float, ...]:
    """Histogram bucket bounds (seconds) as fractions of Dialpad's deadline: fine below it, and
    edges at 80 %, 90 %, 100 % and 120 % of it (5 s: ... 4, 4.5, 5, 6, 10 s)."""
    return tuple(round(f * policy.deadline_s, 6) for f in _DEADLINE_FRACTIONS)


class EndpointMetrics:
    """The metrics of one endpoint app (see the module docstring). ``render()`` gives the
    exposition text and its content type."""

    def __init__(self, policy: Policy = DIALPAD) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

        # prometheus-client picks file-backed values when first imported with the variable set;
        # imported earlier (without it), values stay in memory and so does the exposition.
        file_backed = values.ValueClass is not values.MutexValue
        self.multiprocess_dir = (os.environ.get(MULTIPROC_ENV) or None) if file_backed else None
        # In multiprocess mode the values live in files; the exposition reads them all at scrape time.
        self.registry = CollectorRegistry()
        reg = None if self.multiprocess_dir else self.registry
        self.requests = Counter(
            "dialpad_endpoint_requests", "Routing requests answered, by outcome", ["outcome"], registry=reg
        )
        self.fallbacks = Counter(
            "dialpad_endpoint_fallbacks", "Fallback answers, by reason", ["reason"], registry=reg
        )
        self.rule_hits = Counter(
            "dialpad_endpoint_rule_hits", "Answers given by each named rule", ["rule"], registry=reg
        )
        self.latency = Histogram(
            "dialpad_endpoint_request_duration_seconds",
            f"Time from receipt to answer (Dialpad's deadline: {policy.deadline_s:g} s)",
            buckets=latency_buckets(policy),
            registry=reg,
        )
        self.in_flight = Gauge(
            "dialpad_endpoint_in_flight_requests",
            "Requests being answered now",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.reloads = Counter(
            "dialpad_endpoint_reloads",
            "Rule (re)loads by result (loaded, refused) and trigger",
            ["result", "trigger"],
            registry=reg,
        )
        self.reload_refused = Gauge(
            "dialpad_endpoint_reload_refused",
            "1 while the last reload was refused and the previous rules still serve",
            registry=reg,
            multiprocess_mode="livemax",
        )
        self.loaded_at = Gauge(
            "dialpad_endpoint_rules_loaded_timestamp_seconds",
            "When the rules now serving were loaded (per worker)",
            registry=reg,
            multiprocess_mode="liveall",
        )
        self.shadow_results = Counter(
            "dialpad_endpoint_shadow_results",
            "Shadow results against the control's (match, mismatch, timeout, error, busy, control_failed)",
            ["shadow", "result"],
            registry=reg,
        )
        self.canary_requests = Counter(
            "dialpad_endpoint_canary_requests",
            "Requests by canary side and by whose answer was sent",
            ["side", "answered_by"],
            registry=reg,
        )
        self.canary_share = Gauge(
            "dialpad_endpoint_canary_share",
            "Share of callers a canary candidate answers",
            ["candidate"],
            registry=reg,
            multiprocess_mode="livemax",
        )
        self.canary_stopped = Gauge(
            "dialpad_endpoint_canary_stopped",
            "1 once the canary stopped the candidate (the control answers its callers)",
            ["candidate"],
            registry=reg,
            multiprocess_mode="livemax",
        )
        for outcome in LOG_OUTCOMES:
            self.requests.labels(outcome)
        for reason in FALLBACK_REASONS:
            self.fallbacks.labels(reason)
        for result in ("loaded", "refused"):
            for trigger in RELOAD_TRIGGERS:
                self.reloads.labels(result, trigger)

    # ------------------------------------------------------------------ counting

    def observe(self, record: Mapping[str, Any], experiment: Experiment | None = None) -> None:
        """Count one request from its log record (``make_record``'s fields); ``experiment`` is
        the record's :func:`~dialpad_nb.core.endpoint_log.experiment_of` when the caller has it
        already (the kit builds both from the same results), else it is read from the record."""
        outcome = record.get("outcome")
        self.requests.labels(outcome).inc()
        reason = fallback_reason(outcome, record.get("fallback"), record.get("error"))
        if reason is not None:
            self.fallbacks.labels(reason).inc()
        rule = record.get("rule")
        if outcome == "ok" and isinstance(rule, str):
            self.rule_hits.labels(rule).inc()
        latency = record.get("latency_ms")
        if isinstance(latency, (int, float)):
            self.latency.observe(max(float(latency), 0.0) / 1000)
        if experiment is not None or record.get("shadows") or record.get("side") is not None:
            self._observe_experiment(record, experiment)

    def _observe_experiment(self, record: Mapping[str, Any], exp: Experiment | None) -> None:
        """Shadow verdicts and canary sides (:func:`shadow_verdict`, as the reports compare them)."""
        if exp is None:
            try:
                rec = check_record(record)
                if not isinstance(rec, LogRecord):
                    return
                exp = experiment_of(rec)
            except BadLogRecord:  # pragma: no cover - the kit writes what it checks
                return
        for shadow in exp.shadows:
            self.shadow_results.labels(shadow.name, shadow_verdict(exp.control, shadow)).inc()
        if exp.side is not None:
            self.canary_requests.labels(exp.side, exp.answered_by or exp.side).inc()

    def shadows_known(self, names: Iterable[str]) -> None:
        """List every result of every shadow at 0 (a scrape shows them before the first request)."""
        for name in names:
            for verdict in SHADOW_VERDICTS:
                self.shadow_results.labels(name, verdict)

    def canary_state(self, status: Mapping[str, Any]) -> None:
        """Set the canary gauges from :meth:`~dialpad_nb.endpoint.canary.Canary.status`."""
        for name, item in status.get("candidates", {}).items():
            self.canary_share.labels(name).set(item["share"])
            self.canary_stopped.labels(name).set(1 if item["stopped"] else 0)

    def rules_loaded(self, *, trigger: str, rule_names: Iterable[str], at_ms: int) -> None:
        """New rules serve: count the load, list their rules (at 0 hits), clear the refused flag."""
        self.reloads.labels("loaded", trigger).inc()
        for name in rule_names:
            self.rule_hits.labels(name)
        self.reload_refused.set(0)
        self.loaded_at.set(at_ms / 1000)

    def reload_refused_now(self, *, trigger: str) -> None:
        self.reloads.labels("refused", trigger).inc()
        self.reload_refused.set(1)

    # ------------------------------------------------------------------ exposition

    def render(self) -> tuple[bytes, str]:
        """``(body, content type)`` of the Prometheus text exposition."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        if not self.multiprocess_dir:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        _sweep_dead_workers(self.multiprocess_dir)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def worker_exiting(self) -> None:
        """This worker stops (graceful shutdown): its live gauges leave the sums."""
        if self.multiprocess_dir:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), self.multiprocess_dir)


_LIVE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")


def _sweep_dead_workers(path: str) -> None:
    """Drop the live gauges of worker processes that no longer exist (killed, crashed)."""
    from prometheus_client import multiprocess

    try:
        names = os.listdir(path)
    except OSError:
        return
    for pid in {int(m.group(1)) for name in names if (m := _LIVE_FILE.fullmatch(name))}:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's process
        return True
    return True
