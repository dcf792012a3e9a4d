"""Read an endpoint-kit log back as the records written (through the package's one log reader)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dialpad_nb.calls import iter_log
from dialpad_nb.core.endpoint_log import BadLogRecord


def log_records(path: str | Path) -> list[dict[str, Any]]:
    """Every record of the log, as written; fails the test on a line that is not a record."""
    out = []
    for line, rec, _raw in iter_log(path):
        assert not isinstance(rec, BadLogRecord), f"{path}:{line}: {rec}"
        out.append(dict(rec.raw))
    return out
