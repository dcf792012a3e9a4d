"""The health façade: the committed sample log and the one-router summary."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dialpad_nb.attempts import read_attempts_csv
from dialpad_nb.health import (
    SAMPLE_ROUTERS,
    health_summary,
    infer_patches,
    sample_attempts,
    simulate,
    window_summary,
    write_sample_attempts,
)
from dialpad_nb.policy import DIALPAD

DATA = Path(__file__).resolve().parent.parent / "data" / "attempts_sample.csv"
SUPPORT = SAMPLE_ROUTERS["support"]


def test_committed_sample_is_what_the_seeded_generator_writes(tmp_path):
    fresh = write_sample_attempts(tmp_path / "a.csv")
    assert fresh.read_bytes() == DATA.read_bytes()
    assert DATA.stat().st_size < 1_000_000


def test_sample_reads_back_clean_and_is_consistent_with_the_rule():
    attempts, rejects = read_attempts_csv(DATA, source="sample")
    assert rejects.empty
    generated, patches = sample_attempts()
    assert len(attempts) == len(generated)
    # re-simulating the recorded log with the operator's PATCHes reproduces the recorded counts
    sim = simulate(attempts, patches=patches)
    assert sim["error_count"].tolist() == attempts["error_count"].tolist()
    assert (sim["outcome"].astype(str) == attempts["outcome"].astype(str)).all()
    summary = window_summary(sim)
    assert summary.loc[SUPPORT, "disables"] >= 1 and summary.loc[SAMPLE_ROUTERS["sales"], "disables"] == 0
    assert summary.loc[SUPPORT, "max_error_count"] > DIALPAD.error_threshold


def test_infer_patches_recovers_the_operators_reenables_from_the_sample():
    attempts, _ = read_attempts_csv(DATA)
    _, patches = sample_attempts()
    inferred = infer_patches(attempts)
    assert inferred["reset_error_count"].tolist() == patches["reset_error_count"].tolist()
    assert (inferred["time"] <= patches["time"]).all()  # the last skipped call precedes each PATCH
    assert window_summary(simulate(attempts, patches=inferred)).equals(
        window_summary(simulate(attempts, patches=patches))
    )


def test_health_summary_counts_and_a_stricter_deadline_costs_more_errors():
    attempts, patches = sample_attempts()
    base = health_summary(attempts, router_id=SUPPORT, patches=patches)
    assert base["calls"] == int((attempts["router_id"] == SUPPORT).sum())
    assert base["skipped"] == int(
        ((attempts["router_id"] == SUPPORT) & (attempts["outcome"] == "skipped_disabled")).sum()
    )
    assert base["status_at_end"] == "never" and base["budget_left_at_end"] == DIALPAD.error_threshold
    strict = health_summary(
        attempts, router_id=SUPPORT, patches=patches, policy=DIALPAD.replace(deadline_s=3)
    )
    assert strict["over_deadline"] > base["over_deadline"]
    assert pd.Series([strict["errors"], base["errors"]]).is_monotonic_decreasing
