"""The replay widget and its session, driven without a browser (``.value``, ``.click()``)."""

from __future__ import annotations

import json

import pytest

from dialpad_nb.core.errors import DialpadError
from dialpad_nb.endpoint.log import make_record
from dialpad_nb.rules.matrix import MatrixError
from dialpad_nb.rules.ruleset import load_matrix
from dialpad_nb.widgets.replay import ReplaySession, ReplayWidget, replay_widget
from tests.helpers_rules import AFTER_HOURS, SPANISH, SPANISH_LINE, TIER1

SECRET = "widget-test-secret-0123456789abcdefghij"
CANDIDATE = f"""rule,internal_number,hours,target_id,target_type
spanish_night,{SPANISH_LINE},18:00-08:00,{AFTER_HOURS[0]},callcenter
spanish,{SPANISH_LINE},,{SPANISH[0]},callcenter
default,,,{TIER1[0]},callcenter
"""
CURRENT = f"""rule,internal_number,target_id,target_type
spanish,{SPANISH_LINE},{SPANISH[0]},callcenter
default,,{TIER1[0]},callcenter
"""
NIGHT_MS = 1_768_359_600_000  # 2026-01-14T03:00Z = 19:00 in San Francisco
DAY_MS = NIGHT_MS + 14 * 3_600_000


def _payload(call_id: int, ms: int, internal: str) -> dict:
    return {
        "date_started": ms,
        "call_id": call_id,
        "external_number": "+14155551234",
        "internal_number": internal,
        "contact_id": None,
        "contact_type": None,
    }


@pytest.fixture
def data_dir(tmp_path):
    """A plain payload log, and an endpoint log whose records carry the decisions made."""
    plain = [
        _payload(1, NIGHT_MS, SPANISH_LINE),
        _payload(2, DAY_MS, SPANISH_LINE),
        _payload(3, DAY_MS, "+14155550100"),
    ]
    (tmp_path / "calls_plain.jsonl").write_text("".join(json.dumps(p) + "\n" for p in plain))
    records = [
        make_record(
            ts=p["date_started"],
            call_id=p["call_id"],
            payload=p,
            signed=False,
            decision={"target_id": target[0], "target_type": target[1]},
            rule=rule,
            fallback=False,
            status=200,
            latency_ms=1.0,
            outcome="ok",
            error=None,
        )
        for p, target, rule in zip(
            plain, [SPANISH, SPANISH, TIER1], ["spanish", "spanish", "default"], strict=True
        )
    ]
    (tmp_path / "calls_endpoint.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "current.csv").write_text(CURRENT)
    (tmp_path / "candidate.csv").write_text(CANDIDATE)
    (tmp_path / "notes.txt").write_text("not a log")
    return tmp_path


@pytest.fixture
def widget(data_dir) -> ReplayWidget:
    return replay_widget(
        data_dir,
        secret=SECRET,
        current=data_dir / "current.csv",
        candidate=data_dir / "candidate.csv",
        timezone="America/Los_Angeles",
    )


def test_logs_found_in_the_folder(widget):
    assert list(widget.log_picker.options) == ["calls_endpoint.jsonl", "calls_plain.jsonl"]
    assert list(widget.baseline.options) == ["logged decisions", "current matrix"]
    assert widget.baseline.value == "current matrix"


def test_run_shows_summary_and_charts(widget):
    widget.log_picker.value = "calls_plain.jsonl"
    widget.run_button.click()
    result = widget.result
    assert result is not None
    assert (result.summary.calls, result.summary.changed) == (3, 1)
    assert widget.status == str(result.summary)
    assert "calls whose target changes" in widget.summary.value
    for image in widget.charts.values():
        assert bytes(image.value).startswith(b"\x89PNG")


def test_logged_baseline_uses_the_decisions_in_the_log(widget):
    widget.log_picker.value = "calls_endpoint.jsonl"
    widget.baseline.value = "logged decisions"
    widget.run_button.click()
    assert widget.result.summary.baseline == "logged decisions"
    assert (widget.result.summary.with_baseline, widget.result.summary.changed) == (3, 1)


def test_logged_baseline_on_plain_payloads_counts_calls_without_baseline(widget):
    widget.log_picker.value = "calls_plain.jsonl"
    widget.baseline.value = "logged decisions"
    widget.run_button.click()
    assert (widget.result.summary.no_baseline, widget.result.summary.changed) == (3, 0)


def test_editing_the_candidate_validates_inline(widget):
    widget.candidate.value = CANDIDATE.replace("18:00-08:00", "6pm-8am")
    assert not widget.valid
    assert widget.run_button.disabled
    assert "row 1 (rule &#x27;spanish_night&#x27;), column &#x27;hours&#x27;" in widget.problems.value
    widget.run_button.click()  # disabled buttons still fire in tests; the handler re-checks
    assert widget.result is None
    assert widget.status == "The candidate matrix has problems; fix them above."
    widget.candidate.value = CANDIDATE
    assert widget.valid and not widget.run_button.disabled and widget.problems.value == ""


def test_shadow_warnings_are_shown_but_do_not_block(widget):
    widget.candidate.value = CANDIDATE.replace("18:00-08:00", "")
    assert widget.valid
    assert "warning: row 2 (rule &#x27;spanish&#x27;) is shadowed" in widget.problems.value
    assert [w.rule for w in widget.matrix_warnings()] == ["spanish"]


def test_a_changed_candidate_is_used_on_the_next_run(widget):
    widget.log_picker.value = "calls_plain.jsonl"
    widget.run_button.click()
    assert widget.result.summary.changed == 1
    widget.candidate.value = CANDIDATE.replace(f"default,,,{TIER1[0]}", f"default,,,{AFTER_HOURS[0]}")
    widget.run_button.click()
    assert widget.result.summary.changed == 2


def test_unreadable_log_is_reported_not_raised(data_dir):
    session = ReplaySession(
        {"goes away": str(data_dir / "calls_plain.jsonl")}, current=data_dir / "current.csv"
    )
    w = ReplayWidget(session, candidate=CANDIDATE)
    (data_dir / "calls_plain.jsonl").unlink()  # offered, then deleted before the run
    w.run_button.click()
    assert w.result is None
    assert w.status.startswith("Could not run: source: no such file or folder")


def test_secret_is_never_shown(widget):
    assert SECRET not in repr(widget.session)
    assert "secret=***" in repr(widget.session)
    assert SECRET not in repr(widget)


def test_session_without_current_matrix_offers_only_the_log(data_dir):
    session = ReplaySession(data_dir)
    w = ReplayWidget(session, candidate=CANDIDATE)
    assert list(w.baseline.options) == ["logged decisions"]
    with pytest.raises(DialpadError, match="no current matrix"):
        session.run("calls_plain.jsonl", "current", CANDIDATE)
    with pytest.raises(MatrixError):
        session.run("calls_plain.jsonl", "logged", "rule,target_id\n")


def test_repr_is_stable(widget):
    assert repr(widget) == (
        "ReplayWidget(log='calls_endpoint.jsonl', baseline='current matrix', candidate rules=3)"
    )


def test_candidate_testing_a_crm_field_the_export_lacks(data_dir):
    (data_dir / "crm.csv").write_text("phone,segment\n(415) 555-1234,enterprise\n")
    w = replay_widget(data_dir, crm=data_dir / "crm.csv", candidate=data_dir / "candidate.csv")
    w.candidate.value = CANDIDATE.replace("rule,internal_number,", "rule,crm.tier,").replace(
        f"spanish,{SPANISH_LINE},", "spanish,gold,"
    )
    assert not w.valid
    assert "row 2 (rule &#x27;spanish&#x27;), column &#x27;crm.tier&#x27;" in w.problems.value
    w.candidate.value = CANDIDATE.replace("rule,internal_number,", "rule,crm.segment,").replace(
        f"spanish,{SPANISH_LINE},", "spanish,enterprise,"
    )
    assert w.valid
    w.run_button.click()
    assert w.result.rule_hits.set_index("rule")["calls"].to_dict()["spanish"] == 3


# --------------------------------------------------------------------------- what the screen says


def test_a_missing_folder_or_file_is_refused_with_a_message(tmp_path):
    from dialpad_nb.core.errors import SourceNotFound

    with pytest.raises(SourceNotFound, match=r"'.*nowhere' does not exist; give the folder that holds"):
        replay_widget(tmp_path / "nowhere")
    with pytest.raises(SourceNotFound, match=r"no such file or folder '.*gone\.jsonl'"):
        ReplaySession([tmp_path / "gone.jsonl"])
    with pytest.raises(SourceNotFound, match="no call log in folder"):
        ReplaySession(tmp_path)  # a folder with nothing to replay


def test_the_picker_lists_every_call_log_whatever_its_name(data_dir):
    import gzip
    import shutil

    shutil.copy(data_dir / "calls_endpoint.jsonl", data_dir / "endpoint.jsonl")  # the README's name
    with gzip.open(data_dir / "october.jsonl.gz", "wt") as f:
        f.write((data_dir / "calls_plain.jsonl").read_text())
    (data_dir / "export.csv").write_text(
        "date_started,call_id,external_number\n1768359600000,9,+14155551234\n"
    )
    (data_dir / "capacity.csv").write_text("target_id,target_type,max_calls_per_hour\n1,callcenter,5\n")
    (data_dir / "empty.jsonl").write_text("")
    session = ReplaySession(data_dir)
    assert list(session.logs) == [
        "calls_endpoint.jsonl",
        "calls_plain.jsonl",
        "endpoint.jsonl",
        "export.csv",
        "october.jsonl.gz",
    ]  # not notes.txt, current.csv, candidate.csv, capacity.csv or the empty file
    session.run("endpoint.jsonl", "logged", CANDIDATE)  # and what is offered can be replayed


def test_describe_edit_counts_rows_against_the_file():
    from dialpad_nb.widgets.replay import describe_edit

    lines = CANDIDATE.splitlines(keepends=True)
    assert describe_edit(CANDIDATE, CANDIDATE + "\n\n") == ""
    assert describe_edit(CANDIDATE, "".join(lines[:2] + lines[3:])) == "1 row removed"
    assert describe_edit(CANDIDATE, CANDIDATE.replace("18:00", "19:00")) == "1 row changed"
    assert (
        describe_edit(CANDIDATE, CANDIDATE.replace("18:00", "19:00") + "x,,,1,user\ny,,,2,user\n")
        == "1 row changed, 2 rows added"
    )
    assert describe_edit(CANDIDATE, CANDIDATE.replace("rule,", "name,", 1)) == "header changed"


def test_the_result_says_which_candidate_produced_it(widget):
    widget.log_picker.value = "calls_plain.jsonl"
    widget.run_button.click()
    assert widget.result.summary.candidate == "candidate.csv"
    assert widget.status.startswith("candidate.csv vs current: ")
    lines = CANDIDATE.splitlines(keepends=True)
    widget.candidate.value = "".join(lines[:1] + lines[2:])  # drop the spanish_night row
    widget.run_button.click()
    label = "edited candidate.csv (1 row removed)"
    assert widget.result.summary.candidate == label
    assert widget.status.startswith(f"{label} vs current: ")
    assert f"<td style='text-align:left'>{label}</td>" in widget.provenance.value
    assert "Replay: edited candidate.csv (1 row removed) vs current" in widget.summary.value
    assert "America/Los_Angeles (given)" in widget.provenance.value


def test_old_results_turn_stale_the_moment_an_input_changes(widget):
    widget.log_picker.value = "calls_plain.jsonl"
    assert not widget.stale  # nothing on screen yet
    widget.run_button.click()
    assert not widget.stale and widget.stale_banner.value == ""
    assert "dpnb-stale" not in widget.results._dom_classes

    widget.candidate.value = CANDIDATE.replace("18:00-08:00", "6pm-8am")  # invalid: Run is off
    assert widget.run_button.disabled and widget.stale
    assert "dpnb-stale" in widget.results._dom_classes
    assert "Out of date:</b> the candidate was edited (1 row changed)" in widget.stale_banner.value
    assert "does not load now" in widget.stale_banner.value

    widget.candidate.value = CANDIDATE  # back to what was run: the result is current again
    assert not widget.stale and "dpnb-stale" not in widget.results._dom_classes

    widget.baseline.value = "logged decisions"
    assert widget.stale and "the baseline is now the logged decisions" in widget.stale_banner.value
    widget.baseline.value = "current matrix"
    widget.log_picker.value = "calls_endpoint.jsonl"
    assert widget.stale and "the call log is now calls_endpoint.jsonl" in widget.stale_banner.value
    widget.run_button.click()
    assert not widget.stale and widget.runs == 2


def test_a_failed_run_leaves_the_old_result_marked_stale(data_dir):
    session = ReplaySession([data_dir / "calls_plain.jsonl", data_dir / "calls_endpoint.jsonl"])
    w = ReplayWidget(session, candidate=CANDIDATE, baseline="logged")
    w.run_button.click()
    assert w.result is not None and not w.stale
    (data_dir / "calls_endpoint.jsonl").unlink()
    w.log_picker.value = "calls_endpoint.jsonl"
    w.run_button.click()
    assert w.status.startswith("Could not run:")
    assert w.stale and "the call log is now calls_endpoint.jsonl" in w.stale_banner.value


def test_hours_read_in_utc_by_default_are_said_in_the_widget(data_dir):
    # neither the widget nor the current matrix names a timezone: UTC, and the widget says so
    w = replay_widget(data_dir, current=data_dir / "current.csv", candidate=data_dir / "candidate.csv")
    assert w.session.timezone_text == "UTC (no timezone given)"
    assert "UTC (no timezone given)" in w.timezone_line.value
    assert "hours/days rules are read in UTC because no timezone was given" in w.problems.value
    w.log_picker.value = "calls_plain.jsonl"
    w.run_button.click()
    assert "read in UTC because no timezone was given" in w.provenance.value


def test_the_current_matrix_timezone_is_used_and_named_when_none_is_given(data_dir):
    current = load_matrix(
        data_dir / "candidate.csv", timezone="America/Los_Angeles", name="current", warn=False
    )
    w = replay_widget(data_dir, current=current, candidate=data_dir / "candidate.csv")
    assert w.session.timezone_text == "America/Los_Angeles (the timezone of current)"
    assert "read in UTC" not in w.problems.value
    w.log_picker.value = "calls_plain.jsonl"
    w.run_button.click()
    assert w.result.summary.changed == 0  # the same matrix in the same timezone changes nothing


def test_rule_sets_in_two_timezones_are_flagged(data_dir):
    current = load_matrix(data_dir / "candidate.csv", timezone="America/New_York", name="current", warn=False)
    w = replay_widget(
        data_dir, current=current, candidate=data_dir / "candidate.csv", timezone="America/Los_Angeles"
    )
    assert (
        "the current matrix reads hours/days in America/New_York, the candidate in America/Los_Angeles"
        in w.problems.value
    )
    w.log_picker.value = "calls_plain.jsonl"
    w.run_button.click()
    assert "but current in America/New_York" in w.provenance.value


def test_reading_the_candidate_file_leaves_no_handle_open(data_dir):
    import gc
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        replay_widget(data_dir, candidate=data_dir / "candidate.csv")
        gc.collect()
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []
