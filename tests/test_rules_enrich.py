"""CRM enrichment: join on the normalised caller number, duplicates, unusable phones, unmatched."""

from __future__ import annotations

import io
import warnings

import pandas as pd
import pytest

from dialpad_nb.core.errors import ValidationError
from dialpad_nb.rules.enrich import DuplicateContactWarning, Enrichment
from tests.helpers_rules import make_calls

CRM = """phone,owner,status,segment
(415) 555-0199,Ada Okafor,customer,enterprise
+44 20 7123 4567,Lena Fischer,customer,smb
415.555.0199,Bruno Lindqvist,lead,smb
not a number,Chen Wei,customer,mid
206-555-0000,,churned,
"""


def load(**kw) -> Enrichment:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicateContactWarning)
        return Enrichment.from_csv(io.StringIO(CRM), **kw)


def test_fields_are_prefixed_columns():
    assert load().fields == ("crm.owner", "crm.status", "crm.segment")
    assert load(prefix="hubspot.").fields == ("hubspot.owner", "hubspot.status", "hubspot.segment")


def test_duplicates_first_wins_with_a_warning():
    with pytest.warns(DuplicateContactWarning, match=r"1 contact rows repeat .*\+14155550199"):
        crm = Enrichment.from_csv(io.StringIO(CRM))
    assert crm.lookup("+14155550199")["crm.owner"] == "Ada Okafor"
    assert list(crm.duplicates["owner"]) == ["Bruno Lindqvist"]


def test_unusable_phones_are_set_aside_not_dropped_silently():
    crm = load()
    assert list(crm.invalid["owner"]) == ["Chen Wei"]
    assert len(crm) == 3


def test_lookup_normalises_and_missing_is_none():
    crm = load()
    assert crm.lookup("+1 (206) 555-0000") == {
        "crm.owner": None,
        "crm.status": "churned",
        "crm.segment": None,
    }
    assert crm.lookup("+15555550000") == {"crm.owner": None, "crm.status": None, "crm.segment": None}
    assert crm.lookup(None) == {"crm.owner": None, "crm.status": None, "crm.segment": None}


def test_join_adds_fields_and_reports_unmatched():
    calls = make_calls(
        [
            {"date_started": 0, "external_number": "+14155550199", "internal_number": "+14155550100"},
            {"date_started": 0, "external_number": "+442071234567", "internal_number": "+14155550100"},
            {"date_started": 0, "external_number": "+14155550199", "internal_number": "+14155550100"},
            {"date_started": 0, "external_number": "+19995550000", "internal_number": "+14155550100"},
        ]
    )
    joined, report = load().join(calls)
    assert list(joined["crm.segment"].astype(object).where(joined["crm.segment"].notna(), None)) == [
        "enterprise",
        "smb",
        "enterprise",
        None,
    ]
    assert (report.calls, report.matched, report.unmatched) == (4, 3, 1)
    assert (report.duplicates, report.invalid_phones, report.contacts) == (1, 1, 3)
    assert "3 of 4 calls matched a contact (1 unmatched)" in str(report)
    assert list(calls.columns) == [c for c in joined.columns if not c.startswith("crm.")]


def test_missing_key_column_is_named():
    with pytest.raises(ValidationError, match="no 'phone' column"):
        Enrichment.from_frame(pd.DataFrame({"number": ["+14155550199"]}))
    assert Enrichment.from_frame(
        pd.DataFrame({"number": ["+14155550199"], "x": ["y"]}), key="number"
    ).fields == ("crm.x",)
