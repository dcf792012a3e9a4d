"""Replay beyond memory: stream_compare over chunks equals compare over all the calls at once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dialpad_nb.calls.dataset import ingest
from dialpad_nb.calls.read import read_calls
from dialpad_nb.core.errors import ValidationError
from dialpad_nb.rules.comparison import Comparison, compare
from dialpad_nb.rules.enrich import Enrichment
from dialpad_nb.rules.ruleset import RuleSet, load_matrix
from dialpad_nb.rules.streamed import StreamedComparison, stream_compare
from dialpad_nb.samples import generate as datagen

DATA = Path(__file__).resolve().parent.parent / "data"
SECRET = datagen.SAMPLE_SECRET
TZ = "America/Los_Angeles"
CAPACITY = str(DATA / "capacity.csv")


@pytest.fixture(scope="module")
def rules() -> tuple[RuleSet, RuleSet]:
    crm = Enrichment.from_csv(DATA / "crm_contacts.csv")
    current = load_matrix(DATA / "routing_current.csv", timezone=TZ).with_enrichment(crm)
    candidate = load_matrix(DATA / "routing_candidate.csv", timezone=TZ).with_enrichment(crm)
    return candidate, current


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """Three logs whose days overlap (a clock hour's calls come from two files), ingested."""
    folder = tmp_path_factory.mktemp("streamed")
    logs = []
    for k in range(3):
        path = folder / f"calls-{k}.jsonl"
        calls = datagen.generate_calls(2500, seed=20 + k, start="2026-10-05", days=3)
        calls["call_id"] += k * 10**9
        datagen.write_call_log(
            path, len(calls), calls=calls, seed=k, jwt_share=0.2, secret=SECRET, bad_lines=3
        )
        logs.append(path)
    ingest(logs, folder / "ds", SECRET)
    return folder / "ds", logs


def assert_same(streamed: StreamedComparison, whole: Comparison, changes: bool = True) -> None:
    a, b = streamed.summary, whole.summary
    for name in ("baseline", "candidate", "calls", "with_baseline", "no_baseline", "changed", "never_hit"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.default_share_before == b.default_share_before
    assert a.default_share_after == b.default_share_after
    assert (a.timezone, a.notes) == (b.timezone, b.notes)
    pd.testing.assert_frame_equal(a.volume, b.volume)
    pd.testing.assert_frame_equal(a.peaks, b.peaks)
    pd.testing.assert_frame_equal(streamed.rule_hits, whole.rule_hits)
    if whole.baseline_rule_hits is None:
        assert streamed.baseline_rule_hits is None
    else:
        pd.testing.assert_frame_equal(streamed.baseline_rule_hits, whole.baseline_rule_hits)
    assert str(a) == str(b)
    if changes:
        want = whole.changes.reset_index(drop=True)
        for col in want.columns:
            if isinstance(want[col].dtype, pd.CategoricalDtype):
                want[col] = want[col].astype(object).astype("string")
        pd.testing.assert_frame_equal(streamed.read_changes(), want)


def test_over_a_dataset_equals_compare_in_memory(dataset, rules, tmp_path: Path) -> None:
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
