"""Who may do what in intake, checked on the application itself (no HTTP, no NATS, in memory):
every use case for every role, of the owning tenant and of another. A resource the caller must not
even see is *NotFound (404); one it sees but may not change, NotAllowed (403)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import cast
from uuid import UUID

import pytest

from libs.platform.runtime import Runtime
from libs.platform.web.auth import NotAllowed, Principal
from services.intake.application import IntakeApplication
from services.intake.application.reads import IntakeReads
from services.intake.domain.errors import BackupNotFound, CaseNotFound, InvalidProgramme, UnknownCentre
from services.intake.tests.world import (
    ACTORS,
    AGENCY,
    BACKUP,
    CASE,
    CENTRE,
    CHIYODA,
    CONSENT,
    CONSULTATION,
    DAY,
    HOURS,
    INVITING,
    PLACE,
    PROGRAMME,
    REFERRAL,
    RIGHTS,
    TOKYO,
    WINDOW,
    WINDOW_CASE,
    as_setup,
    intake_world,
)

AT = datetime(2024, 6, 3, 10, tzinfo=UTC)
ALLOWED = None
OFFICERS = {"prefecture officer", "municipal officer", "other prefecture's officer", "other municipality's officer"}
STAFF = {"centre staff", "window staff", "other centre's staff"}


@pytest.fixture(scope="module")
def shared() -> Iterator[IntakeApplication]:
    """One world for the refusals: a refused use case changes nothing."""
    with intake_world() as app:
        yield app


def _outcome(shared: IntakeApplication, call: Callable, actor: str, allowed: bool,
             setup: Callable[[IntakeApplication], object] = lambda app: None) -> str:
    """"allowed" or the name of the error the use case raised for this caller. An allowed call
    runs on a fresh world (it changes it); a refused one on the shared world (it changes nothing)."""
    try:
        if allowed:
            with intake_world() as app:
                setup(app)
                call(app, ACTORS[actor])
        else:
            call(shared, ACTORS[actor])
    except Exception as refused:  # noqa: BLE001 - the outcome under test is which error, if any
        return type(refused).__name__
    return "allowed"


def _name(error: type[Exception] | None) -> str:
    return "allowed" if error is ALLOWED else error.__name__


def _outcomes(shared: IntakeApplication, call: Callable, expected: Callable[[str], type[Exception] | None],
              setup: Callable[[IntakeApplication], object] = lambda app: None) -> tuple[dict, dict]:
    """What every role got, beside what it should get: a failure shows the whole table."""
    wanted = {actor: _name(expected(actor)) for actor in ACTORS}
    got = {actor: _outcome(shared, call, actor, wanted[actor] == "allowed", setup) for actor in ACTORS}
    return got, wanted


# What a use case needs first, where allowed (a refusal comes before the case's state matters).
SETUP = {
    "reopen_case": lambda app, case: as_setup(app, case, lambda c: c.close(reason="resolved", closed_on=DAY)),
    "resume_use": lambda app, case: as_setup(app, case, lambda c: c.suspend_use(suspended_on=DAY)),
}
CASE_USE_CASES: dict[str, Callable[[IntakeApplication, Principal, UUID], object]] = {
    "get_case": lambda app, actor, case: app.get_case(actor, case),
    "case_timeline": lambda app, actor, case: app.case_timeline(actor, case),
    "record_consultation": lambda app, actor, case: app.record_consultation(
        actor, case, expected_version=None, channel="phone", consulted_by="family", occurred_at=AT,
        summary="眠れない", idempotency_key=None),
    "void_consultation": lambda app, actor, case: app.void_consultation(
        actor, case, CONSULTATION, voided_on=DAY, reason="duplicate_entry"),
    "record_outreach_visit": lambda app, actor, case: app.record_outreach_visit(
        actor, case, expected_version=None, staff_role="outreach_worker", occurred_at=AT, summary="会えた"),
    "hold_support_meeting": lambda app, actor, case: app.hold_support_meeting(
        actor, case, held_on=DAY, agency_ids=[AGENCY], note="次回"),
    "close_case": lambda app, actor, case: app.close_case(
        actor, case, expected_version=None, reason="resolved", closed_on=DAY),
    "reopen_case": lambda app, actor, case: app.reopen_case(actor, case, reopened_on=DAY),
    "consent_to_share": lambda app, actor, case: app.consent_to_share(
        actor, case, given_by="person", agency_ids=[AGENCY], categories=[], items=["name"], explained_on=DAY,
        consent_text_version="v1", idempotency_key=None),
    "withdraw_share_consent": lambda app, actor, case: app.withdraw_share_consent(
        actor, case, CONSENT, withdrawn_on=DAY),
    "share_with_agency": lambda app, actor, case: app.share_with_agency(
        actor, case, agency_id=AGENCY, items=["name"], on=DAY, purpose="coordination"),
    "refer": lambda app, actor, case: app.refer(
        actor, case, agency_id=AGENCY, items=["name"], referred_on=DAY, idempotency_key="again"),
    "follow_up_referral": lambda app, actor, case: app.follow_up_referral(
        actor, case, REFERRAL, followed_up_on=DAY, note="電話した"),
    "record_referral_outcome": lambda app, actor, case: app.record_referral_outcome(
        actor, case, REFERRAL, decided=True, on=DAY, reason=None),
    "close_referral": lambda app, actor, case: app.close_referral(actor, case, REFERRAL, closed_on=DAY),
    "request_supporter": lambda app, actor, case: app.request_supporter(
        actor, case, municipality=CHIYODA, needs=["visit"], preferences={}, requested_on=DAY, requested_by=None,
        idempotency_key=None),
    "correct_personal_details": lambda app, actor, case: app.correct_personal_details(
        actor, case, personal_details={"name": "山田 太朗"}, corrected_on=DAY),
    "suspend_use": lambda app, actor, case: app.suspend_use(actor, case, suspended_on=DAY),
    "resume_use": lambda app, actor, case: app.resume_use(actor, case, resumed_on=DAY),
    "erase_subject": lambda app, actor, case: app.erase_subject(actor, case, erased_on=DAY, basis="request_granted"),
    "receive_rights_request": lambda app, actor, case: app.receive_rights_request(
        actor, case_id=case, kind="disclosure", received_on=DAY, idempotency_key=None),
    "answer_rights_request": lambda app, actor, case: app.answer_rights_request(
        actor, RIGHTS[case], answered_on=DAY, outcome="granted"),
}
# A case at a centre is its staff's; a case at a municipal window, also the municipality's.
CASE_OWNERS = {CASE: {"centre staff"}, WINDOW_CASE: {"window staff", "municipal officer"}}
# A rights request is answered by the centre's staff alone, even at a window.
RIGHTS_OWNERS = {CASE: {"centre staff"}, WINDOW_CASE: {"window staff"}}


@pytest.mark.parametrize("use_case", CASE_USE_CASES)
@pytest.mark.parametrize("case", [CASE, WINDOW_CASE], ids=["case at a centre", "case at a window"])
def test_a_case_is_seen_and_changed_only_by_those_it_belongs_to(shared, case, use_case) -> None:
    owners = (RIGHTS_OWNERS if use_case == "answer_rights_request" else CASE_OWNERS)[case]
    call = CASE_USE_CASES[use_case]
    setup = SETUP.get(use_case, lambda app, case: None)
    got, wanted = _outcomes(shared, lambda app, who: call(app, who, case),
                            lambda actor: ALLOWED if actor in owners else CaseNotFound, lambda app: setup(app, case))
    assert got == wanted


def _expect(allowed: set[str], refused: dict[str, type[Exception]], otherwise: type[Exception]) -> Callable:
    return lambda actor: ALLOWED if actor in allowed else refused.get(actor, otherwise)


OTHER_USE_CASES: dict[str, tuple[Callable[[IntakeApplication, Principal], object], Callable]] = {
    "open_case": (lambda app, actor: app.open_case(
        actor, centre_id=CENTRE, client_kind="person", age_group="adult", residence_municipality=None,
        personal_details={"name": "山田"}, idempotency_key=None),
        _expect({"centre staff"}, dict.fromkeys(STAFF, UnknownCentre), NotAllowed)),
    "register_centre": (lambda app, actor: app.register_centre(
        actor, tenant=TOKYO, name="新センター", kind="adult", site="main", idempotency_key=None),
        _expect({"prefecture officer"}, {}, NotAllowed)),
    "register_window": (lambda app, actor: app.register_centre(
        actor, tenant=CHIYODA, name="新窓口", kind="adult", site="window", idempotency_key=None),
        _expect({"municipal officer"}, {}, NotAllowed)),
    "get_centre": (lambda app, actor: app.get_centre(actor, CENTRE),
                   _expect({"centre staff", "prefecture officer"}, {}, UnknownCentre)),
    "get_window": (lambda app, actor: app.get_centre(actor, WINDOW),
                   _expect({"window staff", "municipal officer"}, {}, UnknownCentre)),
    "set_centre_profile": (lambda app, actor: app.set_centre_profile(
        actor, CENTRE, opened_fy=2009, municipality=CHIYODA, address="千代田区1-1", phone="03", hours=HOURS,
        satellite_term=None), _expect({"prefecture officer"}, {"centre staff": NotAllowed}, UnknownCentre)),
    "set_centre_staffing": (lambda app, actor: app.set_centre_staffing(
        actor, CENTRE, coordinators=["none"], outreach_workers=1, municipal_support_workers=0),
        _expect({"prefecture officer"}, {"centre staff": NotAllowed}, UnknownCentre)),
    "give_backoffice_support": (lambda app, actor: app.give_backoffice_support(
        actor, CENTRE, given_on=DAY, recipient_kind="municipality", recipient=CHIYODA, kind="advice", note="助言"),
        _expect({"centre staff"}, {"prefecture officer": NotAllowed}, UnknownCentre)),
    "register_agency": (lambda app, actor: app.register_agency(
        actor, name="保健所", category="public_health_centre", municipality=CHIYODA, address="千代田区1-1",
        # Both see 千代田区 inside their jurisdiction; Osaka and 中央区 do not (issue 14).
        phone="03", idempotency_key=None), _expect({"prefecture officer", "municipal officer"}, {}, NotAllowed)),
    "retire_agency": (lambda app, actor: app.retire_agency(actor, AGENCY, retired_on=DAY),
                      _expect({"prefecture officer"}, {}, NotAllowed)),  # its registrant only
    "accept_programme_operation": (lambda app, actor: app.accept_programme_operation(
        actor, INVITING, CHIYODA, on=DAY), _expect({"municipal officer"}, {"prefecture officer": NotAllowed},
                                                   UnknownCentre)),
    "decline_programme_operation": (lambda app, actor: app.decline_programme_operation(
        actor, INVITING, CHIYODA, on=DAY), _expect({"municipal officer"}, {"prefecture officer": NotAllowed},
                                                   UnknownCentre)),
    "start_programme": (lambda app, actor: app.start_programme(
        actor, kind="station", name="ステーション", operators=[], activities=[], starts_on=DAY, ends_on=None,
        funding={"national": "1/2", "prefecture": "1/4", "municipality": "1/4"}, idempotency_key=None),
        _expect(OFFICERS, {}, NotAllowed)),
    "get_programme": (lambda app, actor: app.get_programme(actor, PROGRAMME),
                      _expect({"municipal officer", "prefecture officer"}, {}, UnknownCentre)),
    "change_programme": (lambda app, actor: app.change_programme(
        actor, PROGRAMME, activities=[], funding={"national": "1/2", "municipality": "1/2"}, changed_on=DAY),
        _expect({"municipal officer"}, {"prefecture officer": NotAllowed}, UnknownCentre)),
    "end_programme": (lambda app, actor: app.end_programme(actor, PROGRAMME, ended_on=DAY, handed_over_to=None),
                      _expect({"municipal officer"}, {"prefecture officer": NotAllowed}, UnknownCentre)),
    "hold_group_activity": (lambda app, actor: app.hold_group_activity(
        actor, PROGRAMME, kind="family_class", held_on=DAY, participants=5, agency_ids=[AGENCY]),
        _expect({"municipal officer"}, {"prefecture officer": NotAllowed}, UnknownCentre)),
    "open_place": (lambda app, actor: app.open_place(
        actor, programme_id=PROGRAMME, name="居場所2", operator="NPO", municipality=CHIYODA, address="1-1",
        schedule=HOURS, idempotency_key=None),
        # Outside their jurisdiction (千代田区) the others are refused before the programme is looked up.
        _expect({"municipal officer", "prefecture officer"}, {}, NotAllowed)),
    "hold_place_session": (lambda app, actor: app.hold_place_session(
        actor, PLACE, held_on=DAY, participants=3, registered_participants=[], staff=1, supporter_ids=[],
        idempotency_key=None), _expect({"municipal officer"}, {}, UnknownCentre)),
    "close_place": (lambda app, actor: app.close_place(actor, PLACE, closed_on=DAY),
                    _expect({"municipal officer"}, {}, UnknownCentre)),
    "give_backup": (lambda app, actor: app.give_backup(
        actor, municipality=CHIYODA, kind="staff_dispatched", centre_id=CENTRE, programme_id=PROGRAMME,
        staff_role="municipal_support_worker", staff_days=2, note="派遣", given_on=DAY, idempotency_key=None),
        # Osaka may back up only its own municipalities: refused by the rule, before any access.
        _expect({"prefecture officer"}, {"other prefecture's officer": InvalidProgramme}, NotAllowed)),
    "get_backup": (lambda app, actor: app.get_backup(actor, BACKUP),
                   _expect({"prefecture officer", "municipal officer"}, {}, BackupNotFound)),
    "backup_scope": (lambda app, actor: app.backup_scope(actor), _expect(OFFICERS, {}, NotAllowed)),
    "rights_requests_scope": (lambda app, actor: app.rights_requests_scope(actor), _expect(STAFF, {}, NotAllowed)),
}


@pytest.mark.parametrize("use_case", OTHER_USE_CASES)
def test_centres_programmes_places_and_back_up_are_run_by_their_local_government(shared, use_case) -> None:
    got, wanted = _outcomes(shared, *OTHER_USE_CASES[use_case])
    assert got == wanted


def test_the_agency_directory_is_open_to_every_caller(shared) -> None:
    assert shared.agency(AGENCY).id == AGENCY


@pytest.mark.parametrize("actor", sorted(OFFICERS))
def test_an_officer_lists_the_back_up_of_its_own_local_government(actor) -> None:
    org = ACTORS[actor].org
    expected = {"tenant": org} if "prefecture" in actor else {"municipality": org}
    assert IntakeApplication.backup_scope(ACTORS[actor]) == expected


@pytest.mark.parametrize("actor", sorted(STAFF))
def test_centre_staff_list_the_rights_requests_of_their_own_centre(actor) -> None:
    assert IntakeApplication.rights_requests_scope(ACTORS[actor]) == ACTORS[actor].org


class ReadModelsReached(Exception):
    """The read passed its access rule and went on to the read models."""


class _RuntimeBeforeTheReadModels:
    def __init__(self, application: IntakeApplication) -> None:
        self.application = application

    def catch_up(self) -> None:
        raise ReadModelsReached


READS: dict[str, tuple[Callable[[IntakeReads, Principal], object], Callable]] = {
    "workload": (lambda reads, actor: reads.workload(actor, CENTRE, fy=2024),
                 _expect({"centre staff", "prefecture officer"}, {}, UnknownCentre)),
    "open_referrals": (lambda reads, actor: reads.open_referrals(actor, CENTRE),
                       _expect({"centre staff", "prefecture officer"}, {}, UnknownCentre)),
    "consent_receipt": (lambda reads, actor: reads.consent_receipt(actor, WINDOW_CASE, CONSENT),
                        _expect({"window staff", "municipal officer"}, {}, CaseNotFound)),
    "backups": (lambda reads, actor: reads.backups(actor, kind=None, after=None, limit=10),
                _expect(OFFICERS, {}, NotAllowed)),
    "rights_requests": (lambda reads, actor: reads.rights_requests(actor, open_only=True),
                        _expect(STAFF, {}, NotAllowed)),
}


@pytest.mark.parametrize("read", READS)
def test_a_read_applies_the_access_rule_before_it_touches_the_read_models(shared, read) -> None:
    call, expected = READS[read]
    # A stand-in for the Runtime: a read that checks access first never gets past catch_up().
    reads = IntakeReads(cast(Runtime, _RuntimeBeforeTheReadModels(shared)))
    wanted = {actor: (expected(actor) or ReadModelsReached).__name__ for actor in ACTORS}
    assert {actor: _outcome(shared, lambda app, who: call(reads, who), actor, allowed=False)
            for actor in ACTORS} == wanted
