"""Roster provision (資料6, 第8条), without a database."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

import pytest

from libs.domain import registry
from libs.domain.codes import InvalidLgCode
from libs.domain.errors import InvalidInput
from services.registry.domain.roster import RosterProvision
from services.registry.tests.builders import CHIYODA, TOKYO, _names, _of

# -- roster provision (資料6, 第8条) ----------------------------------------------------------

def _entry(**overrides: object) -> dict:
    entry: dict = {"supporter_id": str(uuid4()), "consent_id": str(uuid4()), "registration_number": "001"}
    entry.update(overrides)
    return entry


def _provide(**overrides: object) -> RosterProvision:
    arguments: dict[str, object] = {
        "id": uuid4(), "tenant": TOKYO, "recipient": CHIYODA, "provided_on": date(2017, 1, 15),
        "items": ["registration_number", "name"], "entries": [_entry()]}
    arguments.update(overrides)
    return RosterProvision.provide(**arguments)  # type: ignore[arg-type]


def test_providing_a_roster_records_one_event_with_recipient_items_and_entries() -> None:
    entries = [_entry(), _entry(registration_number="002")]
    roster = _provide(entries=entries)
    events = _of(registry.RosterProvided, roster.collect_events())
    assert _names(events) == ["RosterProvided"]
    assert (events[0].tenant, events[0].recipient, events[0].provided_on) == (
        TOKYO, CHIYODA, date(2017, 1, 15))
    assert events[0].entries == entries
    assert roster.recipient == CHIYODA


def test_roster_items_are_stored_in_the_forms_order_whatever_order_they_were_given_in() -> None:
    roster = _provide(items=["contact", "name", "registration_number", "birth_date", "term"])
    assert roster.items == ["registration_number", "term", "name", "birth_date", "contact"]
    assert _of(registry.RosterProvided, roster.collect_events())[0].items == roster.items


def test_all_roster_items_reversed_come_back_in_the_forms_order() -> None:
    assert _provide(items=list(reversed(registry.ROSTER_ITEMS))).items == list(registry.ROSTER_ITEMS)


def test_a_roster_item_given_twice_is_stored_once() -> None:
    assert _provide(items=["name", "name", "registration_number"]).items == ["registration_number", "name"]


def test_a_roster_with_an_unknown_item_is_refused() -> None:
    with pytest.raises(InvalidInput) as raised:
        _provide(items=["name", "my_number", "blood_type"])
    assert raised.value.extensions["unknown"] == ["blood_type", "my_number"]


def test_a_roster_without_items_is_refused() -> None:
    with pytest.raises(InvalidInput):
        _provide(items=[])


def test_a_roster_without_entries_is_refused() -> None:
    with pytest.raises(InvalidInput):
        _provide(entries=[])


@pytest.mark.parametrize("entry", [
    {"supporter_id": "x", "registration_number": "001"},
    {"supporter_id": "x", "consent_id": None},
    {"supporter_id": "x", "consent_id": ""},
])
def test_a_roster_entry_that_rests_on_no_consent_is_refused(entry: dict) -> None:
    with pytest.raises(InvalidInput):
        _provide(entries=[_entry(), entry])


@pytest.mark.parametrize("recipient", ["131017", "13101", "chiyoda", ""])
def test_a_roster_for_an_invalid_recipient_code_is_refused(recipient: str) -> None:
    with pytest.raises(InvalidLgCode):
        _provide(recipient=recipient)


def test_a_roster_entry_may_carry_a_uuid_consent_id() -> None:
    consent_id: UUID = uuid4()
    roster = _provide(entries=[_entry(consent_id=consent_id)])
    assert roster.entries[0]["consent_id"] == consent_id
