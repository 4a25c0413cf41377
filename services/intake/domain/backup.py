"""Backup: 都道府県による市町村の後方支援・立ち上げ支援 (seeds/002 資料1; 003 県の動向 ②③).

A prefecture backs up the municipalities inside it: advice, case consultations, staff dispatched
(e.g. 市町村等支援員), help to set up a programme, training, information. Each is one fact the
prefecture counts and the municipality sees.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from libs.domain import intake
from libs.domain.codes import is_prefecture, prefecture_of, validate_lg_code
from services.intake.domain.errors import InvalidProgramme


class Backup(Aggregate):
    PrefecturalBackupGiven = intake.PrefecturalBackupGiven

    @event(PrefecturalBackupGiven)
    def __init__(self, id: UUID, tenant: str, municipality: str, kind: str, given_on: date,
                 centre_id: UUID | None, programme_id: UUID | None, staff_role: str | None,
                 staff_days: int | None, note: dict | None) -> None:
        self.tenant = tenant
        self.municipality = municipality
        self.kind = kind
        self.given_on = given_on
        self.centre_id = centre_id
        self.programme_id = programme_id
        self.staff_role = staff_role
        self.staff_days = staff_days
        self.note = note  # sealed

    @classmethod
    def give(cls, *, id: UUID, tenant: str, municipality: str, kind: str, given_on: date,
             centre_id: UUID | None, programme_id: UUID | None, staff_role: str | None, staff_days: int | None,
             note: dict | None) -> Backup:
        cls.check(tenant=tenant, municipality=municipality, kind=kind, staff_role=staff_role, staff_days=staff_days)
        return cls(id=id, tenant=tenant, municipality=municipality, kind=kind, given_on=given_on,
                   centre_id=centre_id, programme_id=programme_id, staff_role=staff_role, staff_days=staff_days,
                   note=note)

    @staticmethod
    def check(*, tenant: str, municipality: str, kind: str, staff_role: str | None, staff_days: int | None) -> None:
        """The rules, callable before anything (such as a sealing key) is written."""
        if not is_prefecture(tenant):
            raise InvalidProgramme("back-up is given by a prefecture (都道府県)")
        validate_lg_code(municipality)
        if is_prefecture(municipality) or prefecture_of(municipality) != tenant:
            raise InvalidProgramme(f"{municipality} is not a municipality of {tenant}")
        if kind not in intake.BACKUP_KINDS:
            raise InvalidProgramme(f"kind must be one of {intake.BACKUP_KINDS}")
        if kind == "staff_dispatched":
            if staff_role not in intake.STAFF_ROLES or not staff_days or staff_days < 1:
                raise InvalidProgramme(f"staff dispatched names the role ({intake.STAFF_ROLES}) and the days (≥ 1)")
        elif staff_role is not None or staff_days is not None:
            raise InvalidProgramme("staff_role and staff_days belong to staff_dispatched only")
