"""Shared by the streamed and Dask replay tests: rule sets, an ingested dataset, result equality."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dialpad_nb.calls.dataset import ingest
from dialpad_nb.rules.comparison import Comparison
from dialpad_nb.rules.enrich import Enrichment
from dialpad_nb.rules.ruleset import RuleSet, load_matrix
from dialpad_nb.rules.streamed import StreamedComparison
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
