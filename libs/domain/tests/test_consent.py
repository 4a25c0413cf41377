"""The consent record of every consent event (ISO/IEC TS 27560 fields)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from libs.domain.consent import consent_record
from libs.domain.dispatch import subject_consent_record
from libs.domain.intake import share_consent_record
from libs.domain.registry import registration_consent_record


def test_medical_history_is_flagged_sensitive_and_the_jurisdiction_is_japan() -> None:
    record = consent_record(controller="131016", given_by="legal_guardian", purposes=["p"],
                            items=["name", "medical_history"], recipients=["r"], method="written_signature",
                            notice_version="資料7", termination="until withdrawn")
    assert record["jurisdiction"] == "JP" and record["schema"] == "ISO/IEC TS 27560:2023"
    assert record["pii_categories"] == [{"category": "name", "sensitive": False},
                                        {"category": "medical_history", "sensitive": True}]
    assert record["given_by"] == "legal_guardian"


@pytest.mark.parametrize("bad", [{"given_by": "neighbour"}, {"method": "implied"}])
def test_an_unknown_giver_or_method_is_refused(bad: dict) -> None:
    arguments: dict[str, Any] = {
        "controller": "131016", "given_by": "person", "purposes": ["p"], "items": ["name"], "recipients": [],
        "method": "written_signature", "notice_version": "v", "termination": "t",
    }
    with pytest.raises(ValueError):
        consent_record(**{**arguments, **bad})


def test_each_context_names_its_purposes_recipients_and_method() -> None:
    share = share_consent_record(controller="130001", given_by="person", items=["name"], agency_ids=["a-1"],
                                 categories=["hello_work"], consent_text_version="v3")
    assert share["recipients"][0] == "a-1" and len(share["recipients"]) == 2  # the category by its label
    assert (share["method"], share["notice_version"]) == ("oral_after_explanation", "v3")
    roster = registration_consent_record(controller="130001", purpose="名簿", consent_text_version="資料4-v1")
    assert [c["category"] for c in roster["pii_categories"]] == ["name", "gender", "birth_date", "address", "contact"]
    assert roster["method"] == "written_signature" and roster["given_by"] == "person"
    supporter = uuid4()
    visit = subject_consent_record(controller="131016", given_by="person", items=["medical_history"],
                                   support_meetings=True, supporter_id=supporter)
    assert visit["recipients"] == [str(supporter)] and len(visit["purposes"]) == 2
    assert visit["pii_categories"][0]["sensitive"] is True
