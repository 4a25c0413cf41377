"""The aggregate that records an auditor's access to personal data (libs/domain/audit)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from libs.domain import audit


class PersonalDataAccess(Aggregate):
    PersonalDataAccessed = audit.PersonalDataAccessed

    @event(PersonalDataAccessed)
    def __init__(self, id: UUID, tenant: str, accessed_by: str, accessor_org: str, purpose: str,
                 subject: str | None, first_sequence: int, last_sequence: int, accessed_at: datetime) -> None:
        self.tenant = tenant
        self.purpose = purpose
