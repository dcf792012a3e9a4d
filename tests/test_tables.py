"""show_table: what people read has no NaN/NaT/epoch ms, times say their zone, wide tables wrap."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dialpad_nb.charts import show_table
from dialpad_nb.health import infer_patches, read_attempts_csv, what_if

ATTEMPTS = Path(__file__).resolve().parent.parent / "data" / "attempts_sample.csv"


def test_no_raw_missing_values_and_times_in_the_zone_given():
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(["2026-10-06T21:05:26Z", None], utc=True),
            "at": pd.array([1_767_603_600_000, None], dtype="Int64"),  # epoch ms, as the sandbox keeps them
            "rule": ["vip", None],
            "latency_ms": [1966.8, float("nan")],
            "fallback": pd.array([True, None], dtype="boolean"),
            "call_id": [7300000000162461, 7300000000162462],
            "calls": [24000, 3],
        }
    )
    view = show_table(frame, timezone="America/Los_Angeles", missing={"rule": "(fallback)"})
    text = repr(view)
    for raw in ("NaN", "NaT", "<NA>", "nan", "1767603600000", "True"):
        assert raw not in text
    assert view.text.loc[0, "time"] == "2026-10-06 14:05:26 PDT"
    assert view.text.loc[0, "at"] == "2026-01-05 01:00:00 PST"  # 09:00 UTC, said in the zone shown
    assert list(view.text["rule"]) == ["vip", "(fallback)"]
    assert list(view.text["latency_ms"]) == ["1,966.8", ""]
    assert list(view.text["fallback"]) == ["yes", ""]
    assert list(view.text["call_id"]) == ["7300000000162461", "7300000000162462"]  # ids stay whole
    assert list(view.text["calls"]) == ["24,000", "3"]
    assert view.frame is frame  # the data is untouched


def test_the_what_if_table_reads_first_disable_in_words():
    attempts = read_attempts_csv(ATTEMPTS).attempts
    table = what_if(attempts, patches=infer_patches(attempts), deadline_s=3)
    view = show_table(table, timezone="America/Los_Angeles", missing={"first_disable": "not disabled"})
    assert list(view.text["first_disable"]) == [
        "2026-10-06 14:05:26.473 PDT",
        "not disabled",
        "2026-10-06 13:45:34.871 PDT",
        "not disabled",
    ]
    html = view._repr_html_()
    assert "<th>first disable</th>" in html  # headers can wrap at word breaks
    assert "white-space:normal" in html and "overflow-wrap:anywhere" in html
    assert "<th>policy</th><th>router id</th>" in html  # the index (policy, router) is shown


def test_a_plain_row_number_is_not_shown_and_bad_arguments_are_named():
    view = show_table(pd.DataFrame({"a": [1, 2]}))
    assert repr(view) == "a\n1\n2" and "<th></th>" not in view._repr_html_()
    with pytest.raises(ValueError, match="missing: no column"):
        show_table(pd.DataFrame({"a": [1]}), missing={"b": "-"})
    with pytest.raises(ValueError, match="timezone: 'Mars/Base' is not a known timezone"):
        show_table(pd.DataFrame({"a": [1]}), timezone="Mars/Base")
