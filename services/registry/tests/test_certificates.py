"""Which trainee holds a 修了番号: the completion's row in the creations ledger (unique per number),
not a map on the registrar that grew with every certificate ever issued (issue 15). Numbers
allocated before (Registrar v1) are still found, and a number is still allocated once when two
completions race on two replicas."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError
from sqlalchemy import text

from libs.platform.web.auth import Principal
from services.registry.application import RegistryApplication, today_jst
from services.registry.domain.course import TrainingCourse
from services.registry.domain.errors import UnknownCertificate
from services.registry.domain.registrar import DEFAULT_CONSENT_TEXT, Registrar, certificate_id
from services.registry.tests.builders import _all_consent
from tests.harness import stored_applications

TODAY = today_jst()
TOKYO = "130001"
OFFICER = Principal("officer", TOKYO, frozenset({"prefecture_officer"}))
DETAILS = {"name": "山田 太郎", "contact": "03-0000-0000"}
CONSENT = _all_consent()


def _course(app: RegistryApplication) -> UUID:
    course, _ = app.schedule_course(OFFICER, kind="initial", title="養成研修", starts_on=TODAY - timedelta(days=30),
                                    ends_on=TODAY - timedelta(days=10), venue="都庁", idempotency_key=None)
    return course.id


def _trainee(app: RegistryApplication, course_id: UUID) -> UUID:
    return app.record_attendance(OFFICER, course_id, attended_on=TODAY - timedelta(days=20), trainee=DETAILS,
                                 supporter_id=None, idempotency_key=None).resource_id


def _complete(app: RegistryApplication, course_id: UUID, trainee_id: UUID) -> str:
    made = app.complete_training(OFFICER, course_id, trainee_id=trainee_id, completed_on=TODAY - timedelta(days=5),
                                 idempotency_key=None)
    number = made.aggregate.certificate_number(trainee_id)
    assert number is not None
    return number


def _apply(app: RegistryApplication, number: str) -> UUID:
    return app.apply_for_registration(
        OFFICER, certificate_number=number, applied_on=TODAY - timedelta(days=4), applicant=DETAILS,
        consent_items=CONSENT, consent_text_version=DEFAULT_CONSENT_TEXT, signed_on=TODAY - timedelta(days=4),
        idempotency_key=None)[0].id


def test_a_registration_finds_its_trainee_by_the_number_from_the_ledger(tmp_path) -> None:
    with stored_applications(tmp_path, "registry", RegistryApplication) as (_engine, application):
        app = application()
        course_id = _course(app)
        trainees = [_trainee(app, course_id) for _ in range(3)]
        numbers = [_complete(app, course_id, t) for t in trainees]
        fresh = application()  # another replica, nothing cached
        assert "certificates" not in vars(fresh.registrar(TOKYO))
        row = fresh.ledger.of_kind("certificate", certificate_id(TOKYO, numbers[1]))
        assert row is not None and row.aggregate_id == str(course_id)
        assert _apply(fresh, numbers[1]) == trainees[1]
        with pytest.raises(UnknownCertificate):
            _apply(fresh, f"{numbers[0][:4]}-0004")  # never allocated


def test_numbers_allocated_before_the_ledger_and_a_v1_snapshot_still_find_their_trainee(tmp_path) -> None:
    with stored_applications(tmp_path, "registry", RegistryApplication) as (engine, application):
        app = application()
        registrar = Registrar.open(TOKYO)
        legacy = {registrar.allocate_certificate_number(2015, uuid4()): None for _ in range(120)}
        app.save(registrar)  # as v1 did: numbers on the registrar only, no ledger row (a snapshot at 100)
        with engine.begin() as conn:  # the snapshot as v1 wrote it: every number in its state
            version, raw = conn.execute(text("SELECT originator_version, state FROM registry_snapshots")).one()
            snapshot = json.loads(bytes(raw))
            assert snapshot["state"].pop("class_version") == 2
            events = list(app.events.get(registrar.id))
            snapshot["state"]["certificates"] = {
                e.number: {"_type_": "uuid_hex", "_data_": e.allocated_to.hex}
                for e in events if isinstance(e, Registrar.NumberAllocated) and e.originator_version <= version}
            conn.execute(text("UPDATE registry_snapshots SET state = :s"), {"s": json.dumps(snapshot).encode()})
        allocated = {e.number: e.allocated_to for e in events if isinstance(e, Registrar.NumberAllocated)}
        assert set(allocated) == set(legacy)

        fresh = application()
        loaded = fresh.registrar(TOKYO)
        assert "certificates" not in vars(loaded) and loaded.counters == {"certificate/2015": 120}
        # The trainee of a legacy number is the supporter's id (the number's holder, from the log).
        assert _apply(fresh, "2015-0007") == allocated["2015-0007"]
        assert _apply(fresh, "2015-0120") == allocated["2015-0120"]
        with pytest.raises(UnknownCertificate):
            _apply(fresh, "2015-0121")
        # Found once in the log, a legacy number gets its row: the next look reads one event, not the
        # registrar's whole log (which grows with every number it ever allocated).
        row = fresh.ledger.of_kind("certificate", certificate_id(TOKYO, "2015-0007"))
        assert row is not None and row.aggregate_id == str(registrar.id)
        other = application()  # another replica
        read: list[Any] = []
        select_events = other.recorder.select_events

        def counted(*args: Any, **kwargs: Any) -> Any:
            rows = select_events(*args, **kwargs)
            read.extend(rows)
            return rows

        other.recorder.select_events = counted
        holder = other._holder(other.registrar(TOKYO), "2015-0007")
        assert holder == allocated["2015-0007"]
        assert len(read) < 30, f"{len(read)} stored events read to find one legacy number's holder"


def _racing(app: RegistryApplication, other: RegistryApplication, other_course: UUID, other_trainee: UUID) -> None:
    """Right after `app` loaded the registrar for a completion, `other` completes another trainee."""
    get_course = app.get_course
    calls: list[UUID] = []

    def the_other_completes_first(actor: Principal, loaded: UUID) -> TrainingCourse:
        calls.append(loaded)
        if len(calls) == 2:  # the first load only finds the course's registrar
            _complete(other, other_course, other_trainee)
        return get_course(actor, loaded)

    app.get_course = the_other_completes_first  # type: ignore[method-assign, assignment]


def test_two_concurrent_completions_never_share_a_number_and_each_registration_finds_its_own(tmp_path) -> None:
    with stored_applications(tmp_path, "registry", RegistryApplication) as (_engine, application):
        first, second = application(), application()  # two replicas
        courses = [_course(first), _course(first)]
        trainees = [_trainee(first, c) for c in courses]
        first.registrar(TOKYO), second.registrar(TOKYO)  # both hold the registrar at one version
        _racing(first, second, courses[1], trainees[1])
        with pytest.raises(IntegrityError):  # the same number, allocated by the other first: 409
            _complete(first, courses[0], trainees[0])
        del first.get_course
        numbers: dict[Any, str] = {trainees[1]: second.repository.get(courses[1]).certificate_number(trainees[1])}
        numbers[trainees[0]] = _complete(first, courses[0], trainees[0])  # the client's retry
        assert sorted(numbers.values()) == [f"{numbers[trainees[1]][:4]}-0001", f"{numbers[trainees[1]][:4]}-0002"]
        for trainee_id, number in numbers.items():
            assert _apply(application(), number) == trainee_id
