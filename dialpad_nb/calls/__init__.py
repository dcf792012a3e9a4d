"""Call ingest: logged routing requests and Dialpad's call history (``CallProto`` records, saved
``call.list`` pages, the ``client.calls()`` frame, the event receiver's log) into one typed
``calls`` frame plus the records that were refused; the endpoint log's experiments (shadows,
canary arms) as frames (``read_experiment``)."""

from __future__ import annotations

from ..core.frames import REJECT_COLUMNS
from .columns import CALL_COLUMNS, CALL_DTYPES, PAYLOAD_FIELDS
from .dataset import IngestReport, ingest
from .discover import find_call_logs
from .endpoint_log import LOG_EVENT_COLUMNS, LOG_FRAME_COLUMNS, iter_log, read_log, read_log_events
from .experiment_log import EXPERIMENT_COLUMNS, SHADOW_RESULT_COLUMNS, ExperimentRead, read_experiment
from .read import NoSecretWarning, ReadResult, iter_calls, read_calls

__all__ = [
    "CALL_COLUMNS",
    "CALL_DTYPES",
    "EXPERIMENT_COLUMNS",
    "ExperimentRead",
    "LOG_EVENT_COLUMNS",
    "LOG_FRAME_COLUMNS",
    "NoSecretWarning",
    "PAYLOAD_FIELDS",
    "REJECT_COLUMNS",
    "SHADOW_RESULT_COLUMNS",
    "ReadResult",
    "IngestReport",
    "find_call_logs",
    "ingest",
    "iter_calls",
    "iter_log",
    "read_calls",
    "read_experiment",
    "read_log",
    "read_log_events",
]
