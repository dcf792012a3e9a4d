"""The health façade: the committed sample log and the one-router summary."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dialpad_nb.core.policy import DIALPAD
from dialpad_nb.health import health_summary, infer_patches, simulate, window_summary
from dialpad_nb.health.attempts import read_attempts_csv
from dialpad_nb.samples import SAMPLE_ROUTERS, sample_attempts, write_sample_attempts

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


@pytest.mark.http
def test_sandbox_attempts_over_http_agree_with_the_vectorised_rule(sandbox_factory):
    """Live sandbox (its RouterHealthState) → attempts → simulate(infer_patches) reproduces every record."""
    from dialpad_nb.api.client import DialpadClient
    from dialpad_nb.api.control import sandbox_control
    from dialpad_nb.core.serving import serve_app
    from dialpad_nb.endpoint.app import routing_endpoint
    from dialpad_nb.health.attempts import from_sandbox
    from dialpad_nb.health.endpoint_probe import FaultSwitch
    from dialpad_nb.samples.company import CALLCENTERS

    server = sandbox_factory(routing_deadline_s=DIALPAD.deadline_s)
    target = CALLCENTERS[0]["id"]
    switch = FaultSwitch(
        routing_endpoint(lambda req: (target, "callcenter"), fallback=(target, "callcenter"))
    )
    with (
        serve_app(switch) as served,
        DialpadClient(base_url=server.url, api_key=server.api_key, clock=server.clock) as client,
        sandbox_control(server) as control,
    ):
        router = client.create_router(name="r", routing_url=served.url, default_target="Reception")
        number = client.assign_number(router.id, area_code="415").number
        now = control.clock()

        def calls(k):
            nonlocal now
            specs = [{"to": number, "from": "+14155550123", "at": now + (i + 1) * 60_000} for i in range(k)]
            now += k * 60_000
            return control.place_calls(specs)

        calls(3)
        switch.fail(500)
        calls(DIALPAD.error_threshold + 3)  # the (threshold+1)th error disables; 2 skipped
        client.enable_router(router.id)  # keeps the count: the next error disables again
        calls(1)
        now += DIALPAD.patch_interval_ms
        control.set_clock(now)
        client.enable_router(router.id, reset_error_count=True)
        switch.restore()
        calls(2)
        attempts, rejects = from_sandbox(control.attempts(router.id))
    assert rejects.empty
    assert attempts["outcome"].astype(str).tolist() == (
        ["ok"] * 3
        + ["http_status"] * (DIALPAD.error_threshold + 1)
        + ["skipped_disabled"] * 2
        + ["http_status"]
        + ["ok"] * 2
    )
    patches = infer_patches(attempts)
    assert patches["enabled"].tolist() == [True, True]
    assert patches["reset_error_count"].tolist() == [False, True]
    sim = simulate(attempts, patches=patches)
    assert sim["error_count"].tolist() == attempts["error_count"].tolist()
    assert sim["disabled_now"].sum() == 2
