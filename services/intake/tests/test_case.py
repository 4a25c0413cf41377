"""Case rules (相談の記録): opening a case, consultations and their idempotency, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest

from libs.domain import intake
from libs.domain.contracts import ClientKey, idempotency_digest
from libs.domain.errors import DataErased, InvalidInput
from services.intake.domain.case import CLOCK_SKEW, Case
from services.intake.domain.errors import InvalidCase, InvalidConsultation

JST = timezone(timedelta(hours=9))
TOKYO = "130001"
CENTRE_ID = UUID("5e2f7c10-8a4b-4d6e-b1f3-2c9d0a7e6b58")

def _open_case(**overrides: object) -> Case:
    arguments: dict[str, Any] = {
        "id": uuid4(), "tenant": TOKYO, "centre_id": CENTRE_ID, "client_kind": "person",
        "age_group": "adult", "personal_details": None,
    }
    arguments.update(overrides)
    return Case.open(**arguments)


def _consultation(**overrides: object) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "consultation_id": uuid4(), "channel": "phone", "consulted_by": "family",
        "occurred_at": datetime(2017, 4, 1, 0, 0, tzinfo=JST), "summary": None,
    }
    arguments.update(overrides)
    return arguments


SECRET = bytes(range(32))  # the service's <SERVICE>_IDEMPOTENCY_KEY


def _key(key: str) -> ClientKey:
    return ClientKey(key, SECRET)


def _digest(key: str) -> str:
    return intake.consultation_key_digests(CENTRE_ID, _key(key))[0]


def test_a_consultation_recorded_with_an_unkeyed_digest_still_deduplicates_a_retry() -> None:
    # Events recorded before the digest was keyed carry SHA-256 of (service, centre, key).
    case = _open_case()
    first_id = uuid4()
    case._record_consultation(
        consultation_id=first_id, centre_id=CENTRE_ID, channel="phone", consulted_by="family",
        occurred_at=datetime(2017, 4, 1, tzinfo=JST), summary=None,
        idempotency_digest=idempotency_digest(intake.CONTEXT, str(CENTRE_ID), "req-1", None))
    case.collect_events()
    assert case.consultation_of_key(_key("req-1")) == first_id
    assert case.consultation_of_key(_key("req-2")) is None


def test_a_consultation_recorded_now_leaves_its_key_to_the_creations_ledger() -> None:
    # Issue 15: the case kept every consultation and every key digest, and its load grew with them.
    case = _open_case()
    case.record_consultation(**_consultation())
    [recorded] = case.collect_events()[1:]
    assert vars(recorded)["idempotency_digest"] is None
    assert case.idempotency_keys == {} and case.consultation_count == 1 and not hasattr(case, "consultations")


@pytest.fixture
def case() -> Case:
    case = _open_case()
    case.collect_events()  # only what the test itself does stays pending
    return case


# -- opening a case -------------------------------------------------------------------------

def test_opening_a_case_records_one_case_opened_event() -> None:
    case_id = uuid4()
    case = _open_case(id=case_id, client_kind="family", age_group="child")
    events = case.collect_events()
    assert [type(e).__name__ for e in events] == ["CaseOpened"]
    assert events[0].originator_id == case_id
    assert (case.tenant, case.centre_id, case.client_kind, case.age_group) == (
        TOKYO, CENTRE_ID, "family", "child",
    )
    assert case.consultation_count == 0
    assert case.version == 1


@pytest.mark.parametrize("client_kind", ["", "Person", "friend", "本人"])
def test_a_case_of_an_unknown_client_kind_is_rejected(client_kind: str) -> None:
    with pytest.raises(InvalidCase, match="client_kind"):
        _open_case(client_kind=client_kind)


@pytest.mark.parametrize("age_group", ["", "senior", "Adult", "18+"])
def test_a_case_of_an_unknown_age_group_is_rejected(age_group: str) -> None:
    with pytest.raises(InvalidCase, match="age_group"):
        _open_case(age_group=age_group)


@pytest.mark.parametrize("client_kind", intake.CLIENT_KINDS)
def test_a_case_may_be_opened_for_a_person_a_family_or_an_agency(client_kind: str) -> None:
    assert _open_case(client_kind=client_kind).client_kind == client_kind


# -- recording consultations ----------------------------------------------------------------

def test_a_valid_consultation_is_recorded_as_one_event(case: Case) -> None:
    arguments = _consultation(summary={"alg": "A256GCM", "kid": "x", "iv": "aQ==", "ct": "Yw=="})
    case.record_consultation(**arguments)
    events = case.collect_events()
    assert [type(e).__name__ for e in events] == ["ConsultationRecorded"]
    event = events[0]
    assert isinstance(event, Case.ConsultationRecorded)
    assert event.consultation_id == arguments["consultation_id"]
    assert event.centre_id == CENTRE_ID
    assert event.channel == "phone"
    assert event.consulted_by == "family"
    assert event.occurred_at == arguments["occurred_at"]
    assert event.summary == arguments["summary"]
    assert case.consultation_count == 1
    assert case.version == 2


@pytest.mark.parametrize("channel", intake.CHANNELS)
def test_every_listed_channel_is_accepted(case: Case, channel: str) -> None:
    case.record_consultation(**_consultation(channel=channel))
    recorded = case.collect_events()[-1]
    assert isinstance(recorded, Case.ConsultationRecorded) and recorded.channel == channel


def test_repeat_consultations_without_a_key_all_count(case: Case) -> None:
    for _ in range(3):
        case.record_consultation(**_consultation())
    assert len(case.collect_events()) == 3
    assert case.consultation_count == 3


@pytest.mark.parametrize("channel", ["", "fax", "Phone", "電話", "line"])
def test_an_unknown_channel_is_rejected_and_nothing_is_recorded(case: Case, channel: str) -> None:
    with pytest.raises(InvalidConsultation, match="channel"):
        case.record_consultation(**_consultation(channel=channel))
    assert case.pending_events == []
    assert case.consultation_count == 0
    assert case.version == 1


@pytest.mark.parametrize("consulted_by", ["", "friend", "Family", "家族", "school"])
def test_an_unknown_consulted_by_is_rejected_and_nothing_is_recorded(
    case: Case, consulted_by: str
) -> None:
    with pytest.raises(InvalidConsultation, match="consulted_by"):
        case.record_consultation(**_consultation(consulted_by=consulted_by))
    assert case.pending_events == []
    assert case.consultation_count == 0


def test_a_consultation_time_without_a_timezone_is_rejected_and_nothing_is_recorded(
    case: Case,
) -> None:
    with pytest.raises(InvalidConsultation, match="timezone"):
        case.record_consultation(**_consultation(occurred_at=datetime(2017, 4, 1, 0, 0)))
    assert case.pending_events == []
    assert case.consultation_count == 0


def test_a_consultation_in_the_future_is_rejected_and_nothing_is_recorded(case: Case) -> None:
    tomorrow = datetime.now(JST) + timedelta(days=1)
    with pytest.raises(InvalidConsultation, match="future"):
        case.record_consultation(**_consultation(occurred_at=tomorrow))
    assert case.pending_events == []
    assert case.consultation_count == 0


def test_a_consultation_just_beyond_the_clock_skew_is_in_the_future(case: Case) -> None:
    too_late = datetime.now(UTC) + CLOCK_SKEW + timedelta(minutes=1)
    with pytest.raises(InvalidConsultation, match="future"):
        case.record_consultation(**_consultation(occurred_at=too_late))
    assert case.pending_events == []


def test_a_consultation_a_little_ahead_within_the_clock_skew_is_accepted(case: Case) -> None:
    assert CLOCK_SKEW == timedelta(minutes=10)
    slightly_ahead = datetime.now(JST) + CLOCK_SKEW - timedelta(minutes=2)
    case.record_consultation(**_consultation(occurred_at=slightly_ahead))
    assert len(case.collect_events()) == 1


def test_a_consultation_happening_now_is_accepted(case: Case) -> None:
    case.record_consultation(**_consultation(occurred_at=datetime.now(JST)))
    assert len(case.collect_events()) == 1


def test_the_consultation_errors_are_invalid_input_problems() -> None:
    assert issubclass(InvalidConsultation, InvalidInput)
    assert InvalidConsultation.problem == "invalid-consultation"
    assert InvalidConsultation.status == 422
    assert InvalidCase.problem == "invalid-case"


def test_no_supporter_is_requested_while_the_person_has_stopped_the_use_of_their_data() -> None:
    # Issue 14: a supporter request was accepted during the person's 利用停止; it rests on the
    # person's will, like a disclosure by consent, so it waits for the resumption.
    from services.intake.domain.errors import UseIsSuspended

    case = _open_case()
    case.suspend_use(suspended_on=datetime(2024, 6, 1).date())
    case.collect_events()
    request: dict[str, Any] = {"request_id": uuid4(), "municipality": "131016", "needs": ["visit"], "preferences": {},
               "requested_on": datetime(2024, 6, 2).date(), "requested_by": "person"}
    with pytest.raises(UseIsSuspended):
        case.request_supporter(**request)
    assert case.collect_events() == []
    case.resume_use(resumed_on=datetime(2024, 6, 3).date())
    case.request_supporter(**request)
    assert [type(e).__name__ for e in case.collect_events()][-1] == "SupporterRequested"


def test_an_empty_correction_of_the_persons_details_is_refused_with_nothing_recorded_or_sealed() -> None:
    # Issue 14: `seal(...) or {}` put `{}` in a sealed field, an event the AsyncAPI schema refuses.
    from services.intake.tests.world import ACTORS, CASE, DAY, intake_world

    with intake_world() as app:
        before: int = app.repository.get(CASE).version
        with pytest.raises(InvalidInput):
            app.correct_personal_details(ACTORS["centre staff"], CASE, personal_details={}, corrected_on=DAY)
        assert app.repository.get(CASE).version == before


def test_a_resource_is_found_by_its_get_when_its_event_is_not_the_last_of_its_save() -> None:
    from services.intake.tests.world import ACTORS, CASE, intake_world
    with intake_world() as app:
        staff = ACTORS["centre staff"]
        creation = app.creation("outreach-visit", CASE, None, staff_role="coordinator",
                                occurred_at=datetime(2024, 6, 3, 10, tzinfo=UTC), summary=None)

        def visit_then_another(case: Case, visit_id: UUID) -> None:
            case.record_outreach_visit(visit_id=visit_id, staff_role="coordinator",
                                       occurred_at=datetime(2024, 6, 3, 10, tzinfo=UTC), summary=None)
            case.record_outreach_visit(visit_id=uuid4(), staff_role="outreach_worker",
                                       occurred_at=datetime(2024, 6, 3, 11, tzinfo=UTC), summary=None)

        made = app.create_inside(creation, lambda: app.get_case(staff, CASE), visit_then_another)
        found = app.created_event(CASE, made.resource_id, Case.OutreachVisitRecorded, "visit_id")
        assert found is not None and found.staff_role == "coordinator"


def test_an_erased_case_refuses_a_consultation_as_erased_410_not_as_closed_409() -> None:
    """The erasure closes the case and it can never be reopened: a consultation that raced past the
    erasure event is told the subject was erased (410), as it is once the key is destroyed, not "the
    case is closed; reopen it first" (409, which a client without If-Match took for a conflict)."""
    case = _open_case()
    case.erase(erased_on=datetime(2017, 5, 1, tzinfo=JST).date(), basis="request_granted")
    with pytest.raises(DataErased) as refused:
        case.record_consultation(**_consultation())
    assert refused.value.status == 410 and refused.value.problem == "subject-erased"
    assert case.version == 2  # opened, erased: nothing more recorded
