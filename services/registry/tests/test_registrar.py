"""The registrar (登録を行う都道府県・指定都市): its settings and the numbers it allocates, without a database."""

from __future__ import annotations

import json
from dataclasses import replace
from uuid import uuid4

import pytest

from libs.domain import registry
from libs.domain.codes import InvalidLgCode
from libs.domain.errors import InvalidInput
from services.registry.domain.registrar import (
    DEFAULT_CONSENT_TEXT,
    DEFAULT_MAX_TERM_YEARS,
    DEFAULT_TERM_YEARS,
    TERM_LIMIT_YEARS,
    Registrar,
)
from services.registry.tests.builders import CHIYODA, TOKYO, _names, _of


@pytest.fixture
def registrar() -> Registrar:
    registrar = Registrar.open(TOKYO)
    registrar.collect_events()
    return registrar


# -- registrar: opening and settings --------------------------------------------------------

def test_opening_a_registrar_records_one_event_with_the_default_settings() -> None:
    registrar = Registrar.open(TOKYO)
    events = registrar.collect_events()
    assert _names(events) == ["RegistrarOpened"]
    assert registrar.id == Registrar.id_for(TOKYO)
    assert (registrar.tenant, registrar.max_term_years, registrar.default_term_years,
            registrar.consent_text_version) == (
        TOKYO, DEFAULT_MAX_TERM_YEARS, DEFAULT_TERM_YEARS, DEFAULT_CONSENT_TEXT)


def test_the_registrar_id_is_derived_from_the_tenant() -> None:
    assert Registrar.id_for(TOKYO) == Registrar.id_for(TOKYO)
    assert Registrar.id_for(TOKYO) != Registrar.id_for(CHIYODA)


@pytest.mark.parametrize("code", ["130002", "13000", "1300011", "abcdef", ""])
def test_a_registrar_cannot_be_opened_for_an_invalid_local_government_code(code: str) -> None:
    with pytest.raises(InvalidLgCode):
        Registrar.open(code)


def test_configuring_the_registrar_records_the_new_settings(registrar: Registrar) -> None:
    registrar.configure(max_term_years=5, default_term_years=3, consent_text_version=" 資料4-v2 ")
    events = _of(registry.RegistrarConfigured, registrar.collect_events())
    assert _names(events) == ["RegistrarConfigured"]
    assert (events[0].max_term_years, events[0].default_term_years, events[0].consent_text_version) == (
        5, 3, "資料4-v2")
    assert (registrar.max_term_years, registrar.default_term_years, registrar.consent_text_version) == (
        5, 3, "資料4-v2")


@pytest.mark.parametrize("max_years, default_years", [(1, 1), (TERM_LIMIT_YEARS, TERM_LIMIT_YEARS),
                                                      (TERM_LIMIT_YEARS, 1)])
def test_the_registrar_accepts_terms_at_the_bounds(registrar: Registrar, max_years: int,
                                                   default_years: int) -> None:
    registrar.configure(max_term_years=max_years, default_term_years=default_years,
                        consent_text_version="資料4-v1")
    assert registrar.max_term_years == max_years
    assert registrar.default_term_years == default_years


@pytest.mark.parametrize("max_years, default_years, text", [
    (0, 1, "資料4-v1"),  # max below 1
    (TERM_LIMIT_YEARS + 1, 1, "資料4-v1"),  # max over the sanity bound
    (3, 4, "資料4-v1"),  # default over max
    (3, 0, "資料4-v1"),  # default below 1
    (3, 2, ""),  # no consent text
    (3, 2, "   "),  # blank consent text
])
def test_a_bad_configuration_is_refused_and_records_nothing(registrar: Registrar, max_years: int,
                                                            default_years: int, text: str) -> None:
    with pytest.raises(InvalidInput):
        registrar.configure(max_term_years=max_years, default_term_years=default_years,
                            consent_text_version=text)
    assert registrar.collect_events() == []
    assert (registrar.max_term_years, registrar.default_term_years, registrar.consent_text_version) == (
        DEFAULT_MAX_TERM_YEARS, DEFAULT_TERM_YEARS, DEFAULT_CONSENT_TEXT)


# -- registrar: numbers ---------------------------------------------------------------------

def test_certificate_numbers_count_up_within_a_fiscal_year_and_restart_in_the_next(
        registrar: Registrar) -> None:
    first, second, third = uuid4(), uuid4(), uuid4()
    numbers = [
        registrar.allocate_certificate_number(2016, first),
        registrar.allocate_certificate_number(2016, second),
        registrar.allocate_certificate_number(2017, third),
    ]
    assert numbers == ["2016-0001", "2016-0002", "2017-0001"]
    events = _of(registry.NumberAllocated, registrar.collect_events())
    assert _names(events) == ["NumberAllocated"] * 3
    assert [(e.series, e.fy, e.number, e.allocated_to) for e in events] == [
        ("certificate", 2016, "2016-0001", first),
        ("certificate", 2016, "2016-0002", second),
        ("certificate", 2017, "2017-0001", third),
    ]
    assert registrar.counters == {"certificate/2016": 2, "certificate/2017": 1}
    assert [registrar.was_allocated(n) for n in ("2016-0002", "2016-0003", "2017-0001", "2016-2", "x-0001")] == [
        True, False, True, False, False]


def test_the_registrar_keeps_no_certificate_so_its_snapshot_does_not_grow_with_history(
        registrar: Registrar) -> None:
    def snapshot_bytes() -> int:
        return len(json.dumps(Registrar.Snapshot.take(registrar).state, default=str))

    for _ in range(100):
        registrar.allocate_certificate_number(2016, uuid4())
    after_100 = snapshot_bytes()
    for _ in range(899):  # to 999: the counter keeps its width
        registrar.allocate_certificate_number(2016, uuid4())
    assert snapshot_bytes() == after_100, "a 修了番号 → trainee map grew with every certificate (issue 15)"


def test_a_v1_snapshot_with_its_certificates_loads_without_them() -> None:
    v1 = Registrar.open(TOKYO)
    trainee = uuid4()
    v1.allocate_certificate_number(2016, trainee)
    snapshot = Registrar.Snapshot.take(v1)
    state = dict(snapshot.state)
    state.pop("class_version")
    state["certificates"] = {"2016-0001": trainee}  # as v1 kept every number
    loaded = replace(snapshot, state=state).mutate(None)
    assert isinstance(loaded, Registrar) and "certificates" not in vars(loaded)
    assert loaded.counters == {"certificate/2016": 1} and loaded.version == v1.version
    assert loaded.allocate_certificate_number(2016, uuid4()) == "2016-0002"


def test_certificate_numbers_never_repeat_within_a_fiscal_year_even_when_years_interleave(
        registrar: Registrar) -> None:
    numbers = [registrar.allocate_certificate_number(fy, uuid4())
               for fy in (2016, 2017, 2016, 2017, 2016)]
    assert numbers == ["2016-0001", "2017-0001", "2016-0002", "2017-0002", "2016-0003"]
    assert len(set(numbers)) == len(numbers)


def test_registration_numbers_count_up_across_fiscal_years_without_a_year_prefix(
        registrar: Registrar) -> None:
    registrar.allocate_certificate_number(2016, uuid4())
    first = registrar.allocate_registration_number(uuid4())
    registrar.allocate_certificate_number(2017, uuid4())
    second = registrar.allocate_registration_number(uuid4())
    assert (first, second) == ("001", "002")
    registrations = [e for e in _of(registry.NumberAllocated, registrar.collect_events())
                     if e.series == "registration"]
    assert [(e.fy, e.number) for e in registrations] == [(None, "001"), (None, "002")]


def test_allocated_numbers_survive_replaying_the_registrars_events() -> None:
    registrar = Registrar.open(TOKYO)
    registrar.allocate_certificate_number(2016, uuid4())
    registrar.allocate_registration_number(uuid4())
    events = registrar.collect_events()
    replayed = None
    for e in events:
        replayed = e.mutate(replayed)
    assert replayed is not None
    assert replayed.allocate_certificate_number(2016, uuid4()) == "2016-0002"
    assert replayed.allocate_registration_number(uuid4()) == "002"
