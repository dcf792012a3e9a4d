# ruff: noqa: F811  (the fixtures dataset and rules come from tests.helpers_stream)
"""Replay beyond memory: stream_compare over chunks equals compare over all the calls at once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dialpad_nb.calls.dataset import dataset_parts
from dialpad_nb.calls.read import read_calls
from dialpad_nb.core.errors import ValidationError
from dialpad_nb.rules.comparison import compare
from dialpad_nb.rules.streamed import UnreadablePartWarning, stream_compare
from tests.helpers_stream import CAPACITY, SECRET, assert_same, dataset, rules  # noqa: F401 - fixtures


def test_over_a_dataset_equals_compare_in_memory(
    dataset,
    rules,
    tmp_path: Path,
) -> None:
    ds, logs = dataset
    candidate, current = rules
    whole = compare(read_calls(logs, SECRET).calls, candidate, baseline=current, capacity=CAPACITY)
    assert whole.summary.changed > 0 and whole.summary.over_capacity  # the case is not trivial
    streamed = stream_compare(ds, candidate, baseline=current, capacity=CAPACITY, changes_to=tmp_path / "ch")
    assert streamed.chunks == 3
    assert_same(streamed, whole)


def test_hours_split_across_chunks_count_whole(dataset, rules, tmp_path: Path) -> None:
    _, logs = dataset
    candidate, current = rules
    whole = compare(read_calls(logs[0], SECRET).calls, candidate, baseline=current, capacity=CAPACITY)
    streamed = stream_compare(
        logs[0], candidate, baseline=current, capacity=CAPACITY, secret=SECRET, chunksize=251,
        changes_to=tmp_path / "ch",
    )  # fmt: skip
    assert streamed.chunks > 8
    assert_same(streamed, whole)


def test_filtered_and_against_the_log(dataset, rules) -> None:
    ds, _ = dataset
    candidate, _ = rules
    calls = read_calls(ds, start="2026-10-06", end="2026-10-07").calls
    # a logged baseline: decisions as the candidate itself made them on the first half
    logged = calls.copy()
    decided = candidate.decide_all(calls)
    half = len(calls) // 2
    logged["logged_target_id"] = decided["target_id"].astype("Int64").where(logged.index < half)
    logged["logged_target_type"] = decided["target_type"].astype("string").where(logged.index < half)
    whole = compare(logged, candidate)
    chunks = [logged.iloc[:100], logged.iloc[100 : half + 7], logged.iloc[half + 7 :]]
    streamed = stream_compare(chunks, candidate)
    assert_same(streamed, whole, changes=False)
    assert whole.summary.no_baseline > 0 and whole.baseline_rule_hits is None
    with pytest.raises(ValidationError, match="changes_to"):
        streamed.read_changes()
    # the dataset's filters reach the stream
    direct = stream_compare(ds, candidate, start="2026-10-06", end="2026-10-07")
    assert direct.summary.calls == len(calls) > 0


def test_compare_takes_a_dataset_path(dataset, rules, tmp_path: Path) -> None:
    ds, logs = dataset
    candidate, current = rules
    whole = compare(read_calls(logs, SECRET).calls, candidate, baseline=current)
    assert str(compare(ds, candidate, baseline=current).summary) == str(whole.summary)
    with pytest.raises(ValidationError, match="not a dataset"):
        compare(tmp_path, candidate)


def test_a_damaged_part_is_skipped_whole_and_said(dataset, rules, tmp_path: Path) -> None:
    ds, _ = dataset
    candidate, current = rules
    copy = tmp_path / "ds"
    shutil.copytree(ds, copy)
    damaged = dataset_parts(copy)[1][1][0]
    Path(damaged).write_bytes(Path(damaged).read_bytes()[:60])  # truncated
    read = read_calls(copy)  # the damaged part is one reject there, none of its rows read
    assert (read.rejects["kind"] == "unreadable file").sum() == 1
    whole = compare(read.calls, candidate, baseline=current, capacity=CAPACITY)
    with pytest.warns(UnreadablePartWarning, match="1 dataset part") as said:
        streamed = stream_compare(copy, candidate, baseline=current, capacity=CAPACITY)
    assert damaged in str(said[0].message)
    assert streamed.unreadable == (damaged,)
    assert_same(streamed, whole, changes=False)
    assert streamed.summary.calls < compare(ds, candidate, baseline=current).summary.calls
