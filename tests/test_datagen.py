"""The seeded generator: deterministic, shaped like a real company's traffic, and the committed sample is its output."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialpad_nb.calls.read import read_calls
from dialpad_nb.core.models import normalize_e164, validate_e164
from dialpad_nb.core.signing import sign
from dialpad_nb.samples import generate as datagen
from dialpad_nb.samples.company import USERS

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"


@pytest.fixture(scope="module")
def month() -> pd.DataFrame:
    return datagen.generate_calls(20_000, seed=11)


def local(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["date_started"], unit="ms", utc=True).dt.tz_convert(datagen.TIMEZONE)


def test_same_seed_same_calls_other_seed_other_calls() -> None:
    a = datagen.generate_calls(500, seed=1)
    pd.testing.assert_frame_equal(a, datagen.generate_calls(500, seed=1))
    assert not a.equals(datagen.generate_calls(500, seed=2))


def test_payload_columns_and_values(month: pd.DataFrame) -> None:
    assert list(month.columns) == [
        "date_started",
        "call_id",
        "external_number",
        "internal_number",
        "contact_id",
        "contact_type",
    ]
    assert month["date_started"].is_monotonic_increasing
    assert month["call_id"].is_unique and month["call_id"].is_monotonic_increasing
    for number in pd.unique(month["external_number"]):
        validate_e164(number)
    assert set(month["internal_number"]) == set(datagen.INTERNAL_NUMBERS.values())


def test_month_window_and_office_hours(month: pd.DataFrame) -> None:
    when = local(month)
    assert when.min() >= pd.Timestamp("2026-10-01", tz=datagen.TIMEZONE)
    assert when.max() < pd.Timestamp("2026-11-01", tz=datagen.TIMEZONE)
    by_hour = when.dt.hour.value_counts()
    assert by_hour[10] > 10 * by_hour[3]  # mid-morning peak vs the middle of the night
    weekday_mean = (when.dt.day_of_week < 5).sum() / 22  # October 2026: 22 weekdays, 9 weekend days
    weekend_mean = (when.dt.day_of_week >= 5).sum() / 9
    assert weekday_mean > 2 * weekend_mean


def test_campaign_number_only_after_campaign_start(month: pd.DataFrame) -> None:
    campaign = month[month["internal_number"] == datagen.INTERNAL_NUMBERS["campaign"]]
    assert len(campaign) > 100
    assert local(campaign).min() >= pd.Timestamp(datagen.CAMPAIGN_START, tz=datagen.TIMEZONE)


def test_repeat_callers_and_crm_contacts(month: pd.DataFrame) -> None:
    counts = month["external_number"].value_counts()
    assert (counts > 1).sum() > 1_000  # many callers call more than once
    crm = datagen.generate_crm(seed=11)
    shared = month[month["contact_type"] == "shared"]
    assert 0.3 < len(shared) / len(month) < 0.8
    phone_by_contact = dict(zip(crm["contact_id"], crm["phone"].map(normalize_e164), strict=True))
    # a shared contact's id is the CRM contact whose phone is the caller's number
    assert (shared["contact_id"].map(phone_by_contact) == shared["external_number"]).all()
    unknown = month[month["contact_type"].isna()]
    assert unknown["contact_id"].isna().all()
    assert not unknown["external_number"].isin(set(phone_by_contact.values())).any()


def test_crm_export_is_typed_by_humans() -> None:
    crm = datagen.generate_crm(seed=5)
    assert list(crm.columns) == ["contact_id", "name", "phone", "owner", "status", "segment"]
    normalised = crm["phone"].map(normalize_e164)
    assert normalised.notna().all()
    assert (normalised != crm["phone"]).mean() > 0.5  # most need normalising
    assert normalised.is_unique
    assert set(crm["owner"]) <= {u["display_name"] for u in USERS}
    assert set(crm["status"]) == {"customer", "prospect", "churned"}
    assert set(crm["segment"]) == {"enterprise", "smb", "consumer"}


def test_write_call_log_mix_and_bad_lines_read_back(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    counts = datagen.write_call_log(
        path,
        3_000,
        seed=4,
        secret=datagen.SAMPLE_SECRET,
        jwt_share=0.4,
        wrapped_share=0.1,
        bad_lines=14,
        blank_lines=5,
    )
    assert counts["plain"] + counts["jwt"] + counts["wrapped"] == 3_000
    assert 1_000 < counts["jwt"] < 1_400 and 200 < counts["wrapped"] < 400
    res = read_calls(path, secret=datagen.SAMPLE_SECRET)
    assert res.records == counts["records"] == 3_014
    assert len(res.calls) == 3_000
    assert res.rejects["kind"].value_counts().to_dict() == {
        "bad JSON": 4,  # truncated JSON and plain text, twice each
        "bad JWT": 2,  # alg none
        "bad number": 2,
        "bad record": 2,  # missing call_id
        "bad signature": 2,
        "duplicate": 2,
    }


def test_write_call_log_is_byte_for_byte_deterministic(tmp_path: Path) -> None:
    for name in ("a.jsonl.gz", "b.jsonl.gz"):
        datagen.write_call_log(tmp_path / name, 400, seed=9, secret=datagen.SAMPLE_SECRET, bad_lines=7)
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()


def test_jwt_lines_need_a_secret(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="secret"):
        datagen.write_call_log(tmp_path / "x.jsonl", 10, jwt_share=0.5)
    counts = datagen.write_call_log(tmp_path / "plain.jsonl", 10, jwt_share=0, wrapped_share=0)
    assert counts["plain"] == 10


def test_committed_sample_is_the_generator_output(tmp_path: Path) -> None:
    """data/ can be regenerated byte for byte (so its README's numbers stay true)."""
    counts = datagen.write_sample(tmp_path)
    assert counts["calls"] >= 20_000
    for name in ("calls_2026-10.jsonl.gz", "crm_contacts.csv"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_data_folder_stays_small() -> None:
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 10 * 1024 * 1024


def test_sample_secret_is_long_enough_and_obviously_fake() -> None:
    assert len(datagen.SAMPLE_SECRET) == 40
    assert "not-a-secret" in datagen.SAMPLE_SECRET


def test_generate_calls_cli_writes_a_readable_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dialpad_nb.cli import main

    out, crm = tmp_path / "log.jsonl.gz", tmp_path / "crm.csv"
    assert (
        main(
            [
                "generate-calls",
                str(out),
                "--calls",
                "300",
                "--seed",
                "3",
                "--bad-lines",
                "7",
                "--crm",
                str(crm),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert printed.startswith(f"wrote {out}: 300 calls (")
    assert datagen.SAMPLE_SECRET not in printed
    res = read_calls(out, secret=datagen.SAMPLE_SECRET)
    assert (len(res.calls), len(res.rejects)) == (300, 7)
    assert pd.read_csv(crm).columns.tolist() == ["contact_id", "name", "phone", "owner", "status", "segment"]


def test_generate_calls_cli_needs_the_named_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dialpad_nb.cli import main

    status = main(["generate-calls", str(tmp_path / "x.jsonl"), "--secret-env", "DIALPAD_NB_TEST_UNSET_VAR"])
    assert status == 2
    assert "DIALPAD_NB_TEST_UNSET_VAR is not set" in capsys.readouterr().err


@settings(max_examples=50, deadline=None)
@given(
    payload=st.dictionaries(
        st.text(max_size=8),
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=12),
        max_size=6,
    ),
    secret=st.text(min_size=32, max_size=48),
)
def test_the_fast_signer_writes_the_same_token_as_signing_sign(payload, secret) -> None:
    # datagen signs its own tokens for speed; they must be the ones the package's signer makes
    assert datagen._sign(payload, secret) == sign(payload, secret)
