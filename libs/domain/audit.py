"""Event contracts every service records about itself: access to personal data for audit.

An auditor may open sealed fields only with the role that grants it and for a stated purpose;
each such access is itself an event in the service's log (and so on its stream and in its
Merkle tree), naming who, why, and which events were opened — never the data.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from eventsourcing.domain import Aggregate

from libs.domain.contracts import Contract

CONTEXT = "audit"
NATIONAL = "000000"  # the tenant of records that belong to no local government (national auditors)


class PersonalDataAccessed(Contract, Aggregate.Created):
    """An auditor opened sealed fields of the log for a stated purpose."""

    CONTEXT: ClassVar[str] = CONTEXT
    AGGREGATE: ClassVar[str] = "access"

    tenant: str
    accessed_by: str
    accessor_org: str
    purpose: str
    subject: str | None  # the person, when one person's records were opened (開示請求)
    first_sequence: int  # the log range opened; 0 and 0 when the records of `subject` were opened
    last_sequence: int
    accessed_at: datetime


EVENTS: tuple[type[Contract], ...] = (PersonalDataAccessed,)
