"""Router health: how close each router is to Dialpad's auto-disable, and why.

One import for the analyst; the work lives in small modules:

* :mod:`.attempts` — the attempts DataFrame (sandbox, endpoint log, CSV);
* :mod:`.dataset_attempts` — attempts stored in a Parquet dataset by ``ingest`` and read back
  (:func:`endpoint_attempts`, :func:`read_dataset_attempts`);
* :mod:`.history` — the attempts from Dialpad's own record (call history, call events);
* :mod:`.window` — the auto-disable rule over a whole log, vectorised
  (:func:`simulate`, :func:`what_if`, :func:`infer_patches`);
* :mod:`.dask_window` — :func:`simulate` on a Dask cluster, one task per router
  (:func:`dask_simulate`, the optional extra ``scale``);
* :mod:`.latency` — percentiles per hour / outcome against the deadline;
* :mod:`.budget` — budget left now and the expected time to disable;
* :mod:`.summary` — :func:`health_summary`, the numbers shown for one router;
* :mod:`.tracker` — :class:`FleetTracker`, every router's standing now, updated attempt by attempt;
* :mod:`.endpoint_probe` — replay logged requests to an endpoint over HTTP, as Dialpad would;
* :mod:`.shadow` — shadow rules against the control on live calls (:func:`shadow_report`);
* :mod:`.canary` — a canary's arms compared, with intervals (:func:`canary_report`);
* :mod:`.intervals` — Wilson, Newcombe and bootstrap intervals.
"""

from __future__ import annotations

from .attempts import (
    ATTEMPT_COLUMNS,
    SIDE_BY_SIDE_COLUMNS,
    attempts_from_records,
    from_sandbox,
    read_attempts_csv,
    read_endpoint_log,
    side_by_side,
    write_attempts_csv,
)
from .budget import Forecast, disable_eta_s, forecast
from .canary import CANARY_METRICS, CanaryReport, canary_report
from .dask_window import dask_simulate
from .dataset_attempts import endpoint_attempts, read_dataset_attempts
from .endpoint_probe import FaultSwitch, ProbeResult, probe
from .history import from_dialpad_calls
from .intervals import bootstrap_percentile_diff, newcombe_interval, wilson_interval
from .latency import latency_band, latency_by_hour, latency_by_outcome, latency_summary
from .shadow import ShadowReport, shadow_report
from .summary import health_summary
from .tracker import FLEET_COLUMNS, LEVEL_COLOURS, FleetTracker, RouterStanding
from .window import (
    PATCH_COLUMNS,
    apply_deadline,
    compare_policies,
    error_count_curve,
    infer_patches,
    make_patches,
    simulate,
    simulate_router,
    what_if,
    window_summary,
)

__all__ = [
    "ATTEMPT_COLUMNS",
    "CANARY_METRICS",
    "FLEET_COLUMNS",
    "LEVEL_COLOURS",
    "FleetTracker",
    "RouterStanding",
    "PATCH_COLUMNS",
    "SIDE_BY_SIDE_COLUMNS",
    "CanaryReport",
    "FaultSwitch",
    "Forecast",
    "ProbeResult",
    "ShadowReport",
    "apply_deadline",
    "attempts_from_records",
    "bootstrap_percentile_diff",
    "canary_report",
    "compare_policies",
    "dask_simulate",
    "disable_eta_s",
    "endpoint_attempts",
    "error_count_curve",
    "forecast",
    "from_dialpad_calls",
    "from_sandbox",
    "read_dataset_attempts",
    "health_summary",
    "infer_patches",
    "latency_band",
    "latency_by_hour",
    "latency_by_outcome",
    "latency_summary",
    "make_patches",
    "newcombe_interval",
    "probe",
    "read_attempts_csv",
    "read_endpoint_log",
    "shadow_report",
    "side_by_side",
    "simulate",
    "simulate_router",
    "what_if",
    "wilson_interval",
    "window_summary",
    "write_attempts_csv",
]
