"""read_calls says loudly what it could not read for want of a secret, and shows progress on
long reads."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import jwt
import pytest

from dialpad_nb.calls import NoSecretWarning, read_calls

SECRET = "warns-test-secret-0123456789-abcdefghijk"


def _payload(call_id: int) -> dict:
    return {
        "date_started": 1_767_603_600_000 + call_id,
        "call_id": call_id,
        "external_number": "+14155550123",
        "internal_number": "+14155550100",
        "contact_id": None,
        "contact_type": None,
    }


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    lines = [json.dumps(_payload(1)), json.dumps(_payload(2))]
    lines += [jwt.encode(_payload(i), SECRET, algorithm="HS256") for i in (3, 4, 5)]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_signed_lines_rejected_for_want_of_a_secret_are_said_loudly(mixed: Path) -> None:
    with pytest.warns(
        NoSecretWarning, match=r"^3 signed records \(60% of all\) were rejected because no secret"
    ):
        result = read_calls(mixed)
    head, note = str(result).split("\n")
    assert head.startswith("Read 5 records from 1 file: 2 calls accepted, 3 rejected (3 no secret)")
    assert note == (
        "3 signed records (60% of all) were rejected because no secret was given: "
        "pass secret=<the router's secret> to verify and read them"
    )
    assert "⚠ 3 signed records (60% of all) were rejected" in result._repr_html_()


def test_with_the_secret_there_is_nothing_to_say(mixed: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoSecretWarning)
        result = read_calls(mixed, secret=SECRET)
    assert len(result.calls) == 5 and "\n" not in str(result) and result.notes == ()


def test_one_signed_line_reads_in_the_singular(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(jwt.encode(_payload(1), SECRET, algorithm="HS256") + "\n")
    with pytest.warns(NoSecretWarning, match=r"^1 signed record \(100% of all\) was rejected"):
        read_calls(path)


def test_a_progress_bar_when_asked_and_none_on_small_reads(mixed: Path, capsys) -> None:
    read_calls(mixed, secret=SECRET, progress=True)
    bar = capsys.readouterr().err
    size = f"{mixed.stat().st_size / 1000:.2f}k"  # tqdm's unit_scale: 1147 B -> "1.15k"
    assert "read_calls: 100%" in bar and f"{size}/{size}" in bar
    read_calls(mixed, secret=SECRET)  # default: only reads of 16 MiB or more show a bar
    assert capsys.readouterr().err == ""
