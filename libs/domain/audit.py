"""Event contracts every service records about itself: access to personal data for audit.

An auditor may open sealed fields only with the role that grants it and for a stated purpose;
each such access is itself an event in the service's log (and so on its stream and in its
Merkle tree), naming who, why, and which events were opened — never the data.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

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
    first_sequence: int
    last_sequence: int
    accessed_at: datetime


EVENTS: tuple[type[Contract], ...] = (PersonalDataAccessed,)
