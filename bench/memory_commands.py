"""What bench/memory.py drives each service with: its commands in process (a data subject per
case, trainee or dispatch), or, for reporting, the events intake would publish for them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import nats

from libs.platform.messaging.cloudevents import Envelope, nats_subject
from libs.platform.messaging.signing import HEADER, EventSigner
from libs.platform.web.auth import Principal
from services.intake.application import IntakeApplication

TENANT = "130001"
WHEN = datetime(2016, 5, 1, 10, tzinfo=UTC)
SUMMARY = "電話相談。本人は外出が難しく、家族が今後の支援について相談。"


OFFICER = Principal(sub="bench", org=TENANT, roles=frozenset({"prefecture_officer"}))
MUNICIPALITY = "131016"  # 千代田区: dispatch is a municipality's
TRAINEE = {"name": "研修 受講者", "address_or_affiliation": "東京都千代田区", "contact": "03-0000-0000"}
SUBJECT = {"name": "派遣 対象者", "address": "東京都千代田区"}


class Commands:
    """In-process commands of one service (`done` counts them); `per_case`: how many share an aggregate."""

    done = 0

    def run(self, n: int) -> None:
        for _ in range(n):
            self.one()
            self.done += 1

    def one(self) -> None:
        raise NotImplementedError


class IntakeCommands(Commands):
    """One centre: a new case every `per_case` consultations (each case a data subject of its own)."""

    def __init__(self, app: IntakeApplication, per_case: int) -> None:
        self.app, self.per_case = app, per_case
        centre, _ = app.register_centre(OFFICER, tenant=TENANT, name="bench centre", kind="adult", site="main",
                                        idempotency_key=None)
        self.staff = Principal(sub="bench", org=str(centre.id), roles=frozenset({"centre_staff"}))
        self.centre_id: UUID = centre.id
        self.case_id: UUID | None = None

    def one(self) -> None:
        if self.done % self.per_case == 0:
            case, _ = self.app.open_case(self.staff, centre_id=self.centre_id, client_kind="person",
                                         age_group="adult", residence_municipality=None, personal_details=None,
                                         idempotency_key=None)
            self.case_id = case.id
        else:
            assert self.case_id is not None
            self.app.record_consultation(self.staff, self.case_id, expected_version=None, channel="phone",
                                         consulted_by="person", occurred_at=WHEN, summary=SUMMARY,
                                         idempotency_key=None)


class RegistryCommands(Commands):
    """Trainees of initial trainings (養成研修), each with sealed details (a data subject of its own):
    a new course every `per_case` attendances."""

    def __init__(self, app: Any, per_case: int) -> None:
        self.app, self.per_case = app, per_case
        self.course_id: UUID | None = None

    def one(self) -> None:
        if self.done % self.per_case == 0:
            course, _ = self.app.schedule_course(OFFICER, kind="initial", title="bench course",
                                                 starts_on=WHEN.date(), ends_on=WHEN.date(), venue="bench",
                                                 idempotency_key=None)
            self.course_id = course.id
        assert self.course_id is not None
        self.app.record_attendance(OFFICER, self.course_id, attended_on=WHEN.date(), trainee=TRAINEE,
                                   supporter_id=None, idempotency_key=None)


class DispatchCommands(Commands):
    """Dispatch requests of one municipality, each with the person's sealed details."""

    def __init__(self, app: Any, per_case: int) -> None:
        self.app = app
        self.officer = Principal(sub="bench", org=MUNICIPALITY, roles=frozenset({"municipal_officer"}))

    def one(self) -> None:
        self.app.request_dispatch(self.officer, subject_ref=None, requested_by="person", needs=["visit"],
                                  preferences={}, requested_on=WHEN.date(), details=SUBJECT, idempotency_key=None)


class IntakeEvents(Commands):
    """What intake publishes for the commands of IntakeCommands (a case, then consultations), put on
    the INTAKE stream as its relay would: reporting's consumer and projection take them from there."""

    def __init__(self, nats_url: str, per_case: int, signing_key: str) -> None:
        self.nats_url, self.per_case, self.sequence = nats_url, per_case, 0
        self.signer = EventSigner(signing_key)
        self.centre_id, self.case_id = str(uuid4()), ""
        self.pending: list[Envelope] = [self._envelope("CentreRegistered", self.centre_id, {
            "tenant": TENANT, "name": "bench centre", "kind": "adult", "site": "main", "opened_on": None,
            "closed_on": None, "demo": False})]

    def _envelope(self, name: str, subject: str, data: dict) -> Envelope:
        self.sequence += 1
        return Envelope(id=str(uuid4()), source="/tsunagu/intake", type=f"jp.tsunagu.intake.{name}.v1",
                        subject=subject, time=WHEN.isoformat(), tenant=TENANT, sequence=self.sequence,
                        aggregate="case" if name != "CentreRegistered" else "centre", data=data)

    def one(self) -> None:
        if self.done % self.per_case == 0:
            self.case_id = str(uuid4())
            self.pending.append(self._envelope("CaseOpened", self.case_id, {
                "tenant": TENANT, "centre_id": self.centre_id, "client_kind": "person", "age_group": "adult",
                "residence_municipality": None, "personal_details": None}))
        else:
            self.pending.append(self._envelope("ConsultationRecorded", self.case_id, {
                "centre_id": self.centre_id, "consultation_id": str(uuid4()), "channel": "phone",
                "consulted_by": "person", "occurred_at": WHEN.isoformat(), "summary": None,
                "idempotency_digest": None}))

    def run(self, n: int) -> None:
        super().run(n)
        batch, self.pending = self.pending, []
        asyncio.run(self._publish(batch))

    async def _publish(self, envelopes: list[Envelope]) -> None:
        nc = await nats.connect(self.nats_url)
        try:
            js = nc.jetstream()
            for e in envelopes:
                body = e.to_json()
                await js.publish_async(nats_subject("intake", e), body,
                                       headers={"Nats-Msg-Id": e.id, HEADER: self.signer.header(body)})
            await js.publish_async_completed()
        finally:
            await nc.close()
