"""Who may run each registry use case: every application method × every role, of the registrar
(Tokyo) or of another one (Osaka), on eventsourcing's in-memory store (no HTTP, no NATS).

Strangers to a record get its NotFound (existence does not leak); those who see it but may not
do this get NotAllowed; a use case that works for the officer's own registrar refuses other
roles before it reads anything.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool

from libs.domain import registry
from libs.domain.audit import NATIONAL
from libs.domain.errors import InvalidInput
from libs.platform.privacy.sealing import Sealer
from libs.platform.web.auth import NotAllowed, Principal
from services.registry.application import RegistryApplication, today_jst
from services.registry.domain.errors import CourseNotFound, SupporterNotFound, UnknownCertificate
from services.registry.domain.registrar import DEFAULT_CONSENT_TEXT
from services.registry.domain.supporter import Supporter

TOKYO, OSAKA, CHIYODA = "130001", "270008", "131016"
TODAY = today_jst()
ALL_CONSENT = dict.fromkeys(registry.CONSENT_ITEMS, True)
DETAILS = {"name": "山田 太郎", "furigana": "やまだ たろう", "phone": "03-0000-0000"}
OFFICER = Principal("officer", TOKYO, frozenset({"prefecture_officer"}))


class FakeReads:
    """The read models as the use cases see them, answering from what a test put in."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []
        self.roster_rows: list[dict] = []

    def current_supporters(self, tenant: str, on: date) -> list[UUID]:
        self.asked.append(("current_supporters", tenant))
        return []

    def search_supporters(self, tenant: str, **criteria: Any) -> list[dict]:
        self.asked.append(("search_supporters", tenant))
        return []

    def roster_received(self, recipient: str, registrar: str | None) -> list[dict]:
        return [r for r in self.roster_rows if r["recipient"] == recipient and registrar in (None, r["tenant"])]

    def consent_receipt(self, supporter: Supporter) -> dict:
        return {"consent_id": str(supporter.consent_id)}


@pytest.fixture(scope="module")
def app() -> Iterator[RegistryApplication]:
    engine = create_engine("sqlite://", poolclass=StaticPool)
    application = RegistryApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"},
                                      Sealer(engine, os.urandom(32)), FakeReads())  # type: ignore[arg-type]
    yield application
    application.close()
    engine.dispose()


@pytest.fixture(scope="module")
def registrar(app: RegistryApplication) -> Registrar:
    return Registrar(app)


class Registrar:
    """Tokyo's registrar with one initial course, and supporters made in any status on demand.
    A refusal changes nothing, so the refused share one record of each status (a module of
    tests then runs in a second or two)."""

    def __init__(self, app: RegistryApplication) -> None:
        self.app = app
        self._shared: dict[str, Any] = {}
        self.course_id = app.schedule_course(
            OFFICER, kind="initial", title="養成研修", starts_on=TODAY - timedelta(days=30),
            ends_on=TODAY - timedelta(days=10), venue="都庁", idempotency_key=None)[0].id

    def trainee(self) -> UUID:
        return self.app.record_attendance(OFFICER, self.course_id, attended_on=TODAY - timedelta(days=20),
                                          trainee=DETAILS, supporter_id=None, idempotency_key=None).resource_id

    def certificate(self) -> str:
        trainee_id = self.trainee()
        made = self.app.complete_training(OFFICER, self.course_id, trainee_id=trainee_id,
                                          completed_on=TODAY - timedelta(days=10), idempotency_key=None)
        number = made.aggregate.certificate_number(trainee_id)
        assert number is not None
        return number

    def applied(self) -> UUID:
        return self.app.apply_for_registration(
            OFFICER, certificate_number=self.certificate(), applied_on=TODAY - timedelta(days=9), applicant=DETAILS,
            consent_items=ALL_CONSENT, consent_text_version=DEFAULT_CONSENT_TEXT,
            signed_on=TODAY - timedelta(days=9), idempotency_key=None)[0].id

    def registered(self) -> UUID:
        supporter_id = self.applied()
        self.app.approve(OFFICER, supporter_id, expected_version=None, issued_on=TODAY - timedelta(days=5),
                         term_years=None)
        return supporter_id

    def withdrawn(self) -> UUID:
        supporter_id = self.registered()
        self.app.withdraw(OFFICER, supporter_id, expected_version=None, withdrawn_on=TODAY, reason="転居")
        return supporter_id

    def suspended(self) -> UUID:
        supporter_id = self.registered()
        self.app.suspend_use(OFFICER, supporter_id, suspended_on=TODAY)
        return supporter_id

    def inquired(self) -> UUID:
        supporter_id = self.registered()
        for kind in ("investigation", "interview"):
            self.app.record_revocation_inquiry(OFFICER, supporter_id, expected_version=None, kind=kind,
                                               held_on=TODAY, findings="事実を確認")
        return supporter_id

    def shared(self, status: str) -> Any:
        if status not in self._shared:
            self._shared[status] = getattr(self, status)()
        return self._shared[status]

    def course(self) -> UUID:
        return self.course_id

    def attended(self) -> tuple[UUID, UUID]:
        return self.course_id, self.trainee()

    def nothing(self) -> None:
        return None


def _staff(role: str, org: str) -> Callable[[Any], Principal]:
    return lambda target: Principal(role, org, frozenset({role}))


# Each actor is made for the record it acts on: "the_supporter" is that supporter.
ACTORS: dict[str, Callable[[Any], Principal]] = {
    **{f"{role}{where}": _staff(role, org)
       for role in ("prefecture_officer", "municipal_officer", "auditor", "auditor_pii")
       for where, org in (("", TOKYO), ("_elsewhere", OSAKA))},
    **{role: _staff(role, TOKYO) for role in ("centre_staff", "portal", "ministry", "operator", "integrator")},
    # Jurisdiction (libs/domain/audit.covers): the nation sees the Tokyo registrar's records, a
    # municipality inside Tokyo does not (the registrar is the prefecture), a centre id nothing.
    "auditor_national": _staff("auditor", NATIONAL),
    "auditor_pii_national": _staff("auditor_pii", NATIONAL),
    "auditor_of_a_municipality": _staff("auditor", CHIYODA),
    "auditor_of_no_government": _staff("auditor", "ppc"),
    "the_supporter": lambda target: Principal(str(target), TOKYO, frozenset({"supporter"})),
    "another_supporter": lambda target: Principal(str(uuid4()), TOKYO, frozenset({"supporter"})),
}
OWN_OFFICERS = {"prefecture_officer", "municipal_officer"}
OTHER_OFFICERS = {"prefecture_officer_elsewhere", "municipal_officer_elsewhere"}


def officers_anywhere(elsewhere: object = "ok") -> Callable[[str], object]:
    """Use cases on the officer's own registrar: every officer, nobody else."""
    return lambda who: "ok" if who in OWN_OFFICERS else elsewhere if who in OTHER_OFFICERS else NotAllowed


def course_officers(who: str) -> object:
    return "ok" if who in OWN_OFFICERS else CourseNotFound


AUDITORS_IN_JURISDICTION = ("auditor", "auditor_pii", "auditor_national", "auditor_pii_national")


def on_the_record(*allowed: str, seen_by: tuple[str, ...] = AUDITORS_IN_JURISDICTION) -> Callable[[str], object]:
    """Use cases on one supporter's record: the allowed act, others who see it are refused, the
    rest do not learn that it exists."""
    seeing = {*OWN_OFFICERS, "the_supporter", *seen_by}
    return lambda who: "ok" if who in {*OWN_OFFICERS, *allowed} else NotAllowed if who in seeing else SupporterNotFound


def officers_first(who: str) -> object:
    """Approval and renewal look at the officer's own registrar before the record."""
    return "ok" if who in OWN_OFFICERS else SupporterNotFound if who in OTHER_OFFICERS else NotAllowed


V = None  # no If-Match
USE_CASES: dict[str, tuple[str, Callable[..., Any], Callable[[str], object]]] = {
    "get_registrar": ("nothing", lambda app, a, t: app.get_registrar(a), officers_anywhere()),
    "configure_registrar": ("nothing", lambda app, a, t: app.configure_registrar(
        a, max_term_years=3, default_term_years=2, consent_text_version=DEFAULT_CONSENT_TEXT), officers_anywhere()),
    "schedule_course": ("nothing", lambda app, a, t: app.schedule_course(
        a, kind="initial", title="養成研修", starts_on=TODAY, ends_on=TODAY, venue="庁舎", idempotency_key=None),
        officers_anywhere()),
    "get_course": ("course", lambda app, a, t: app.get_course(a, t), course_officers),
    "record_attendance": ("course", lambda app, a, t: app.record_attendance(
        a, t, attended_on=TODAY - timedelta(days=20), trainee=DETAILS, supporter_id=None, idempotency_key=None),
        course_officers),
    "complete_training": ("attended", lambda app, a, t: app.complete_training(
        a, t[0], trainee_id=t[1], completed_on=TODAY, idempotency_key=None), course_officers),
    "apply_for_registration": ("certificate", lambda app, a, t: app.apply_for_registration(
        a, certificate_number=t, applied_on=TODAY, applicant=DETAILS, consent_items=ALL_CONSENT,
        consent_text_version=DEFAULT_CONSENT_TEXT, signed_on=TODAY, idempotency_key=None),
        officers_anywhere(elsewhere=UnknownCertificate)),
    "search_supporters": ("nothing", lambda app, a, t: app.search_supporters(
        a, status=None, term_ends_before=None, after=None, limit=10), officers_anywhere()),
    "read_supporter": ("registered", lambda app, a, t: app.read_supporter(a, t),
                       on_the_record(*AUDITORS_IN_JURISDICTION, "the_supporter")),
    "supporter_history": ("registered", lambda app, a, t: app.supporter_history(a, t),
                          on_the_record(*AUDITORS_IN_JURISDICTION, "the_supporter")),
    "consent_receipt": ("registered", lambda app, a, t: app.consent_receipt(a, t),
                        on_the_record(*AUDITORS_IN_JURISDICTION, "the_supporter")),
    "registration_card": ("registered", lambda app, a, t: app.registration_card(a, t), on_the_record("the_supporter")),
    "record_screening": ("applied", lambda app, a, t: app.record_screening(
        a, t, expected_version=V, kind="interview", held_on=TODAY, note="面談"), on_the_record()),
    "approve": ("applied", lambda app, a, t: app.approve(
        a, t, expected_version=V, issued_on=TODAY, term_years=None), officers_first),
    "refuse": ("applied", lambda app, a, t: app.refuse(
        a, t, expected_version=V, refused_on=TODAY, reason="要件を満たさない"), on_the_record()),
    "renew": ("registered", lambda app, a, t: app.renew(
        a, t, expected_version=V, issued_on=TODAY, term_years=None, consent_items=ALL_CONSENT,
        consent_text_version=DEFAULT_CONSENT_TEXT), officers_first),
    "change_details": ("registered", lambda app, a, t: app.change_details(
        a, t, expected_version=V, changes={"phone": "03-1111-1111"}, changed_on=TODAY),
        on_the_record("the_supporter")),
    "withdraw_consent": ("registered", lambda app, a, t: app.withdraw_consent(
        a, t, expected_version=V, withdrawn_on=TODAY), on_the_record("the_supporter")),
    "withdraw": ("registered", lambda app, a, t: app.withdraw(
        a, t, expected_version=V, withdrawn_on=TODAY, reason="転居"), on_the_record()),
    "suspend_use": ("registered", lambda app, a, t: app.suspend_use(a, t, suspended_on=TODAY), on_the_record()),
    "resume_use": ("suspended", lambda app, a, t: app.resume_use(a, t, resumed_on=TODAY), on_the_record()),
    "record_revocation_inquiry": ("registered", lambda app, a, t: app.record_revocation_inquiry(
        a, t, expected_version=V, kind="investigation", held_on=TODAY, findings="事実"), on_the_record()),
    "revoke": ("inquired", lambda app, a, t: app.revoke(
        a, t, expected_version=V, revoked_on=TODAY, grounds="第16条"), on_the_record()),
    "erase_supporter": ("withdrawn", lambda app, a, t: app.erase_supporter(
        a, t, erased_on=TODAY, basis="request_granted"), on_the_record()),
    "provide_roster": ("registered", lambda app, a, t: app.provide_roster(
        a, recipient=CHIYODA, provided_on=TODAY, items=["name"], supporter_ids=[t], idempotency_key=None),
        officers_anywhere(elsewhere=SupporterNotFound)),
}


@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize("use_case", USE_CASES)
def test_each_use_case_is_open_to_exactly_the_roles_it_names(app: RegistryApplication, registrar: Registrar,
                                                             use_case: str, who: str) -> None:
    prepare, run, expected = USE_CASES[use_case]
    outcome = expected(who)
    target = getattr(registrar, prepare)() if outcome == "ok" else registrar.shared(prepare)
    if outcome == "ok":
        run(app, ACTORS[who](target), target)
    else:
        with pytest.raises(Exception) as refused:
            run(app, ACTORS[who](target), target)
        assert type(refused.value) is outcome, refused.value


@pytest.mark.parametrize(("who", "sees_details"), [
    ("prefecture_officer", True), ("the_supporter", True), ("auditor", False), ("auditor_pii", False),
    ("auditor_national", False)])
def test_an_auditor_reads_the_record_but_not_the_persons_details(registrar: Registrar, who: str,
                                                                 sees_details: bool) -> None:
    supporter_id = registrar.shared("registered")
    _, details = registrar.app.read_supporter(ACTORS[who](supporter_id), supporter_id)
    assert (details == DETAILS) is sees_details and (details is None) is not sees_details


@pytest.mark.parametrize("who", sorted(OWN_OFFICERS | OTHER_OFFICERS))
def test_an_officer_searches_and_provides_from_their_own_registrar_only(app: RegistryApplication, who: str) -> None:
    actor = ACTORS[who](None)
    app.reads.asked.clear()  # type: ignore[attr-defined]
    app.search_supporters(actor, status=None, term_ends_before=None, after=None, limit=10)
    with pytest.raises(InvalidInput, match="no supporter to provide"):  # the fake knows no current one
        app.provide_roster(actor, recipient=CHIYODA, provided_on=TODAY, items=["name"], supporter_ids=None,
                           idempotency_key=None)
    assert app.reads.asked == [  # type: ignore[attr-defined]
        ("search_supporters", actor.org), ("current_supporters", actor.org)]


RECEIVED: dict[str, tuple[str, frozenset[str]]] = {
    # who: (org, roles); RECEIVED_OUTCOME: entries seen and whether their details open, absent: refused.
    "the municipality's officer": (CHIYODA, frozenset({"municipal_officer"})),
    "the municipality's auditor": (CHIYODA, frozenset({"auditor"})),
    "the municipality's auditor_pii": (CHIYODA, frozenset({"auditor_pii"})),
    "a national auditor": (NATIONAL, frozenset({"auditor_pii"})),
    "another prefecture's auditor": (OSAKA, frozenset({"auditor_pii"})),
    "the registrar's officer": (TOKYO, frozenset({"prefecture_officer"})),
    "the registrar's auditor": (TOKYO, frozenset({"auditor"})),
    "another registrar's officer": (OSAKA, frozenset({"prefecture_officer"})),
    "the municipality's centre staff": (CHIYODA, frozenset({"centre_staff"})),
    "a supporter": (CHIYODA, frozenset({"supporter"})),
    "the ministry": (CHIYODA, frozenset({"ministry"})),
}
RECEIVED_OUTCOME = {
    # Only the recipient's officers open the details (issue 14: its auditor read them too).
    "the municipality's officer": (1, True), "the municipality's auditor": (1, False),
    "the municipality's auditor_pii": (1, False), "a national auditor": (1, False),
    "another prefecture's auditor": (0, False),
    "the registrar's officer": (1, False), "the registrar's auditor": (1, False),
    "another registrar's officer": (0, False),
}


@pytest.mark.parametrize("who", RECEIVED)
def test_a_received_roster_is_read_by_the_municipality_and_by_its_registrar_only(
        app: RegistryApplication, registrar: Registrar, who: str) -> None:
    supporter_id = registrar.shared("registered")
    app.reads.roster_rows[:] = [  # type: ignore[attr-defined]
        {"supporter_id": str(supporter_id), "tenant": TOKYO, "recipient": CHIYODA, "items": "name,contact"}]
    org, roles = RECEIVED[who]
    actor = Principal("someone", org, roles)
    if who not in RECEIVED_OUTCOME:
        with pytest.raises(NotAllowed):
            app.roster_received(actor, CHIYODA)
        return
    count, opened = RECEIVED_OUTCOME[who]
    before = _accesses(app)
    entries = app.roster_received(actor, CHIYODA)
    assert len(entries) == count
    assert all((e["details"] is not None) is opened for e in entries)
    # Every opening is recorded (issue 14: the roster opened details with no access record).
    assert [(a.subject, a.purpose_code, a.tenant) for a in _accesses(app)[len(before):]] == (
        [(str(supporter_id), "roster_received", CHIYODA)] if opened else [])


def _accesses(app: RegistryApplication) -> list[Any]:
    return [e for n in app.recorder.select_notifications(start=1, limit=10_000)
            if "PersonalDataAccess" in n.topic for e in [app.mapper.to_domain_event(n)]]
