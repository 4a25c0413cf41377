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
        place.hold_session(session_id=session, held_on=date(2024, 6, 1), participants=4, registered_participants=1,
                           participant_refs=None, staff=1, supporter_ids=[])
    assert place.sessions == {str(session): 4}
    with pytest.raises(InvalidProgramme):
        place.hold_session(session_id=uuid4(), held_on=date(2024, 6, 2), participants=1,
                           registered_participants=2, participant_refs=None, staff=1, supporter_ids=[])


def test_a_closed_place_takes_no_session_and_closes_once() -> None:
    place = _place()
    place.close(closed_on=date(2025, 3, 31))
    assert [type(e).__name__ for e in place.collect_events()][-1] == "PlaceClosed"
    with pytest.raises(WrongCaseStatus):
        place.hold_session(session_id=uuid4(), held_on=date(2025, 4, 1), participants=1, registered_participants=0,
                           participant_refs=None, staff=1, supporter_ids=[])
    with pytest.raises(WrongCaseStatus):
        place.close(closed_on=date(2025, 4, 1))


def test_a_sessions_registered_participants_travel_as_a_count_and_their_refs_sealed_under_the_session() -> None:
    # Issue 14: officers typed names into registered_participants, which went on INTAKE in clear.
    from libs.domain import intake
    from libs.platform.messaging.cloudevents import envelope_of
    from services.intake.tests.world import ACTORS, DAY, PLACE, intake_world

    typed = ["山田太郎", "佐藤花子", "山田太郎"]
    with intake_world() as app:
        place = app.hold_place_session(ACTORS["municipal officer"], PLACE, held_on=DAY, participants=5,
                                       registered_participants=typed, staff=1, supporter_ids=[],
                                       idempotency_key="session-1").aggregate
        held = list(app.events.get(place.id))[-1]
        envelope = envelope_of("intake", held, tenant=place.tenant, sequence=1)
        assert "山田" not in envelope.to_json().decode() and "佐藤" not in envelope.to_json().decode()
        assert envelope.data["registered_participants"] == 2
        refs = envelope.data["participant_refs"]
        assert refs["kid"] == str(envelope.data["session_id"])  # erasable session by session
        assert sorted(app.sealer.open(refs)) == ["佐藤花子", "山田太郎"]
        assert "participant_refs" in intake.PlaceSessionHeld.SEALED_FIELDS


def test_a_session_with_more_registered_participants_than_participants_is_refused() -> None:
    place = _place()
    with pytest.raises(InvalidProgramme):
        place.hold_session(session_id=uuid4(), held_on=date(2024, 6, 2), participants=1, registered_participants=2,
                           participant_refs=None, staff=1, supporter_ids=[])
