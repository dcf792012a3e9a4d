"""Small hand-made call frames in ``read_calls``' exact shape, for rules/replay tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from dialpad_nb.samples.company import CALLCENTERS, DEPARTMENTS

SALES = (DEPARTMENTS[0]["id"], "department")
SUPPORT = (DEPARTMENTS[1]["id"], "department")
INBOUND_SALES = (CALLCENTERS[0]["id"], "callcenter")
TIER1 = (CALLCENTERS[1]["id"], "callcenter")
VIP = (CALLCENTERS[3]["id"], "callcenter")
AFTER_HOURS = (CALLCENTERS[4]["id"], "callcenter")
SPANISH = (CALLCENTERS[5]["id"], "callcenter")

MAIN_LINE = "+14155550100"
SPANISH_LINE = "+14155550111"
CAMPAIGN_LINE = "+16285550123"


def make_calls(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """A calls frame with read_calls' dtypes. Each row needs ``date_started`` (ms or ISO text),
    ``external_number``, ``internal_number``; the rest default to missing."""
    n = len(rows)
    ds = [r["date_started"] for r in rows]
    stamps = (
        pd.to_datetime(ds, unit="ms", utc=True)
        if all(isinstance(d, int) for d in ds)
        else pd.to_datetime(ds, utc=True)
    )
    return pd.DataFrame(
        {
            "date_started": pd.Series(stamps).astype("datetime64[ms, UTC]"),
            "call_id": pd.array([r.get("call_id", 1000 + i) for i, r in enumerate(rows)], dtype="int64"),
            "external_number": pd.array([r["external_number"] for r in rows], dtype="string"),
            "internal_number": pd.array([r["internal_number"] for r in rows], dtype="string"),
            "contact_id": pd.array([r.get("contact_id") for r in rows], dtype="string"),
            "contact_type": pd.array([r.get("contact_type") for r in rows], dtype="string"),
            "logged_target_id": pd.array([(r.get("logged") or (None, None))[0] for r in rows], dtype="Int64"),
            "logged_target_type": pd.array(
                [(r.get("logged") or (None, None))[1] for r in rows], dtype="string"
            ),
            "logged_rule": pd.array([r.get("logged_rule") for r in rows], dtype="string"),
            "signed": pd.array([False] * n, dtype="boolean"),
            "source": pd.array(["test.jsonl"] * n, dtype="string"),
            "line": pd.array(range(1, n + 1), dtype="int64"),
        }
    )
