"""The aggregate that records an access to personal data (libs/domain/audit), and who may open it.

Decryption by auditors (SECURITY.md): the role auditor_pii, a record inside the auditor's
jurisdiction (libs/domain/audit.covers), a purpose code from the list; the note is sealed."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from libs.domain import audit
from libs.domain.errors import InvalidInput

AUDITORS = ("auditor", "auditor_pii")
PII_AUDITOR = "auditor_pii"  # may open sealed fields, for a listed purpose, and is recorded doing so


class UnknownPurpose(InvalidInput):
    problem = "unknown-purpose"
    title = "The purpose is not one of the purpose codes"


class PersonalDataAccess(Aggregate):
    PersonalDataAccessed = audit.PersonalDataAccessed

    @event(PersonalDataAccessed)
    def __init__(self, id: UUID, tenant: str, accessed_by: str, accessor_org: str, purpose_code: str,
                 note: dict | None, subject: str | None, first_sequence: int, last_sequence: int,
                 accessed_at: datetime) -> None:
        self.tenant = tenant
        self.purpose_code = purpose_code


def record_access(application, *, tenant: str, accessed_by: str, accessor_org: str, purpose_code: str,
                  note: str | None, subject: str | None, first_sequence: int = 0,
                  last_sequence: int = 0) -> PersonalDataAccess:
    """Save one access: the note sealed under the subject opened (so it is erased with them), or
    under the access itself when a range of the log was opened."""
    if purpose_code not in audit.PURPOSES:
        raise UnknownPurpose(f"purpose must be one of {', '.join(audit.PURPOSES)}")

    def record() -> PersonalDataAccess:
        access_id = uuid4()
        access = PersonalDataAccess(
            id=access_id, tenant=tenant, accessed_by=accessed_by, accessor_org=accessor_org,
            purpose_code=purpose_code, note=application.seal(subject or str(access_id), note), subject=subject,
            first_sequence=first_sequence, last_sequence=last_sequence, accessed_at=datetime.now(UTC))
        application.save(access)
        return access

    # The note sealed with the key from the cache, checked by the save (store/sealed.py).
    return application.sealed.run(record)
