"""The person's details as the API takes them: `{}` is refused (422) before anything is sealed or
recorded; issue 14 found it published a SubjectDetailsRecorded the AsyncAPI schema refuses."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.dispatch.api.schemas import CorrectionCreate, DetailsCreate, DispatchCreate


@pytest.mark.parametrize("body", [
    {"needs": ["visit"], "requested_on": "2024-06-03", "subject_details": {}},
    {"needs": ["visit"], "requested_on": "2024-06-03", "subject_details": {"name": None}},
])
def test_a_dispatch_request_with_empty_details_of_the_person_is_refused(body: dict) -> None:
    with pytest.raises(ValidationError):
        DispatchCreate.model_validate(body)


def test_empty_details_or_an_empty_correction_are_refused() -> None:
    with pytest.raises(ValidationError):
        DetailsCreate.model_validate({"details": {}})
    with pytest.raises(ValidationError):
        CorrectionCreate.model_validate({"details": {}, "on": "2024-06-03"})


def test_details_with_one_item_are_taken() -> None:
    assert DetailsCreate.model_validate({"details": {"name": "佐藤一郎"}}).details.name == "佐藤一郎"
    assert DispatchCreate.model_validate({"needs": ["visit"], "requested_on": "2024-06-03"}).subject_details is None
