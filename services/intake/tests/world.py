"""A small intake world for application-level tests, kept in memory (eventsourcing's POPO store,
the sealer on an in-memory SQLite): two centres and a municipal window, a case at each, an
agency, a programme with its place, and a prefecture's back-up; and one caller of every role,
of the tenant that owns these and of another."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import StaticPool

from libs.domain.audit import NATIONAL
from libs.platform.privacy.sealing import Sealer
from libs.platform.web.auth import Principal
from services.intake.application import IntakeApplication
from services.intake.domain.agency import Agency
from services.intake.domain.backup import Backup
from services.intake.domain.case import Case
from services.intake.domain.centre import Centre
from services.intake.domain.place import Place
from services.intake.domain.programme import Programme
from services.intake.domain.rights import RightsRequest

TOKYO, CHIYODA, OSAKA, OSAKA_CITY = "130001", "131016", "270008", "271004"
DAY = date(2024, 6, 3)
HOURS = {"mon": ["09:00", "17:00"]}

CENTRE = UUID("00000000-0000-4000-8000-00000000c001")  # Tokyo's main centre
WINDOW = UUID("00000000-0000-4000-8000-00000000c002")  # Chiyoda's consultation window
OSAKA_CENTRE = UUID("00000000-0000-4000-8000-00000000c003")
CASE = UUID("00000000-0000-4000-8000-0000000ca5e1")  # at the centre
WINDOW_CASE = UUID("00000000-0000-4000-8000-0000000ca5e2")  # at the window
AGENCY = UUID("00000000-0000-4000-8000-00000000a001")
CONSULTATION = UUID("00000000-0000-4000-8000-00000000b001")
CONSENT = UUID("00000000-0000-4000-8000-00000000b002")
REFERRAL = UUID("00000000-0000-4000-8000-00000000b003")
RIGHTS = {CASE: UUID("00000000-0000-4000-8000-00000000d001"), WINDOW_CASE: UUID("00000000-0000-4000-8000-00000000d002")}
PROGRAMME = UUID("00000000-0000-4000-8000-00000000e001")  # run by Chiyoda
PLACE = UUID("00000000-0000-4000-8000-00000000e002")  # Chiyoda's
BACKUP = UUID("00000000-0000-4000-8000-00000000e003")  # Tokyo to Chiyoda
INVITING = UUID("00000000-0000-4000-8000-00000000e004")  # Tokyo's, naming Chiyoda as operator (pending)


def _caller(org: str | UUID, *roles: str) -> Principal:
    return Principal(sub="someone", org=str(org), roles=frozenset(roles))


ACTORS = {
    "centre staff": _caller(CENTRE, "centre_staff"),
    "window staff": _caller(WINDOW, "centre_staff"),
    "other centre's staff": _caller(OSAKA_CENTRE, "centre_staff"),
    "prefecture officer": _caller(TOKYO, "prefecture_officer"),
    "municipal officer": _caller(CHIYODA, "municipal_officer"),
    "other prefecture's officer": _caller(OSAKA, "prefecture_officer"),
    "other municipality's officer": _caller(OSAKA_CITY, "municipal_officer"),
    "portal": _caller(TOKYO, "portal"),
    "auditor": _caller(TOKYO, "auditor", "auditor_pii"),
    "ministry": _caller(NATIONAL, "ministry"),
    "supporter": _caller(CHIYODA, "supporter"),
    "operator": _caller(TOKYO, "operator"),
    "integrator": _caller(TOKYO, "integrator"),
}


def as_setup(app: IntakeApplication, aggregate_id: UUID, command: Callable) -> None:
    """A change made behind the use cases, to put an aggregate in the state a test needs."""
    aggregate: Any = app.repository.get(aggregate_id)
    command(aggregate)
    app.save(aggregate)


def _case(case_id: UUID, centre_id: UUID, tenant: str) -> Case:
    case = Case.open(id=case_id, tenant=tenant, centre_id=centre_id, client_kind="person", age_group="adult",
                     residence_municipality=CHIYODA, personal_details=None)
    case.record_consultation(consultation_id=CONSULTATION, channel="phone", consulted_by="person",
                             occurred_at=datetime(2024, 6, 1, tzinfo=UTC), summary=None)
    case.consent_to_share(consent_id=CONSENT, given_by="person", agency_ids=[str(AGENCY)], categories=[],
                          items=["name"], explained_on=DAY, consent_text_version="v1")
    case.refer(referral_id=REFERRAL, agency_id=AGENCY, category="hello_work", items=["name"], referred_on=DAY)
    return case


def _new_application() -> tuple[IntakeApplication, Engine]:
    engine = create_engine("sqlite://", poolclass=StaticPool)
    return IntakeApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"}, Sealer(engine, os.urandom(32))), engine


@cache
def _stored_world() -> tuple[StoredEvent, ...]:
    """The world's events, made once: every test that changes the world gets a copy of them
    (making the aggregates anew was most of such a test's time). Nothing in them is sealed."""
    app, engine = _new_application()
    app.save(
        Centre.register(id=CENTRE, tenant=TOKYO, name="東京都センター", kind="adult", site="main"),
        Centre.register(id=WINDOW, tenant=CHIYODA, name="千代田区窓口", kind="adult", site="window"),
        Centre.register(id=OSAKA_CENTRE, tenant=OSAKA, name="大阪府センター", kind="adult", site="main"),
        Agency.register(id=AGENCY, tenant=TOKYO, name="ハローワーク", category="hello_work", municipality=CHIYODA,
                        address="千代田区1-1", phone="03-0000-0000"),
        _case(CASE, CENTRE, TOKYO), _case(WINDOW_CASE, WINDOW, CHIYODA),
        *(RightsRequest.receive(id=RIGHTS[case_id], tenant=TOKYO, case_id=case_id, centre_id=centre_id,
                                kind="disclosure", received_on=DAY)
          for case_id, centre_id in ((CASE, CENTRE), (WINDOW_CASE, WINDOW))),
        Programme.start(id=PROGRAMME, tenant=CHIYODA, kind="station", name="ステーション", operators=[],
                        activities=[], starts_on=DAY, ends_on=None,
                        funding={"national": "1/2", "prefecture": "1/4", "municipality": "1/4"}),
        Programme.start(id=INVITING, tenant=TOKYO, kind="satellite", name="サテライト", operators=[CHIYODA],
                        activities=[], starts_on=DAY, ends_on=None, funding={"national": "1/2", "prefecture": "1/2"}),
        Place.open(id=PLACE, tenant=CHIYODA, programme_id=PROGRAMME, name="居場所", operator="NPO",
                   municipality=CHIYODA, address="千代田区1-1", schedule=HOURS),
        Backup.give(id=BACKUP, tenant=TOKYO, municipality=CHIYODA, kind="advice", given_on=DAY, centre_id=None,
                    programme_id=None, staff_role=None, staff_days=None, note=None),
    )
    stored = tuple(StoredEvent(originator_id=n.originator_id, originator_version=n.originator_version, topic=n.topic,
                               state=n.state) for n in app.recorder.select_notifications(start=1, limit=1000))
    app.close()
    engine.dispose()
    return stored


@contextmanager
def intake_world() -> Iterator[IntakeApplication]:
    app, engine = _new_application()
    try:
        app.recorder.insert_events(list(_stored_world()))
        yield app
    finally:
        app.close()
        engine.dispose()
