"""居場所 rules: sessions count people, not names; a closed place takes no more sessions."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from services.intake.domain.errors import InvalidProgramme, WrongCaseStatus
from services.intake.domain.place import Place


def _place() -> Place:
    return Place.open(id=uuid4(), tenant="131016", programme_id=None, name="居場所", operator="NPO",
                      municipality="131016", address="1-1", schedule={"sat": ["10:00", "15:00"]})


def test_a_session_counts_participants_and_is_recorded_once() -> None:
    place, session = _place(), uuid4()
    for _ in range(2):
        place.hold_session(session_id=session, held_on=date(2024, 6, 1), participants=4, registered_participants=["p"],
                           staff=1, supporter_ids=[])
    assert place.sessions == {str(session): 4}
    with pytest.raises(InvalidProgramme):
        place.hold_session(session_id=uuid4(), held_on=date(2024, 6, 2), participants=1,
                           registered_participants=["p", "q"], staff=1, supporter_ids=[])


def test_a_closed_place_takes_no_session_and_closes_once() -> None:
    place = _place()
    place.close(closed_on=date(2025, 3, 31))
    assert [type(e).__name__ for e in place.collect_events()][-1] == "PlaceClosed"
    with pytest.raises(WrongCaseStatus):
        place.hold_session(session_id=uuid4(), held_on=date(2025, 4, 1), participants=1, registered_participants=[],
                           staff=1, supporter_ids=[])
    with pytest.raises(WrongCaseStatus):
        place.close(closed_on=date(2025, 4, 1))
