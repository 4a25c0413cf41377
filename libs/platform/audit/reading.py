"""What an auditor reads through the audit API, in one place: the log and the records of one
person, bounded by the auditor's jurisdiction (libs/domain/audit.covers), sealed fields opened
only for auditor_pii with a purpose code, and every opening recorded (SECURITY.md)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends

from libs.domain.audit import NATIONAL, covers
from libs.domain.errors import NotFound
from libs.platform.privacy.access import AUDITORS, PII_AUDITOR, UnknownPurpose, record_access
from libs.platform.privacy.records import consents_of, records_about, transfers_of
from libs.platform.privacy.sealing import is_sealed
from libs.platform.web.auth import NotAllowed, Principal
from libs.platform.web.deps import PrincipalDep


class SubjectNotFound(NotFound):
    problem = "subject-not-found"
    title = "No records of this person in your jurisdiction"


def require_auditor(actor: Principal) -> None:
    actor.require(*AUDITORS)


def auditor(actor: PrincipalDep) -> Principal:
    """The caller, who must hold an auditor's role: the access rule of the audit routes that
    read hashes and metadata only (what they may read is scoped by jurisdiction further on)."""
    require_auditor(actor)
    return actor


AuditorDep = Annotated[Principal, Depends(auditor)]


def require_national_auditor(actor: Principal) -> None:
    """The stored log of every tenant at once (to rebuild the Merkle tree) is for national auditors;
    a local auditor verifies through checkpoints and proofs, which carry hashes only."""
    actor.require(*AUDITORS)
    if actor.org != NATIONAL:
        raise NotAllowed(f"the whole stored log is for national auditors (org {NATIONAL})")


def _opening(actor: Principal, purpose: str | None) -> bool:
    if purpose is None:
        return False
    actor.require(PII_AUDITOR)
    if purpose == "roster_received":  # not an auditor's purpose: the roster records it itself
        raise UnknownPurpose("roster_received is recorded by the roster, not chosen by an auditor")
    return True


def _opened(runtime: Any, data: dict[str, Any]) -> dict[str, Any]:
    return {k: runtime.sealer.open(v) if is_sealed(v) else v for k, v in data.items()}


def audit_events(runtime: Any, actor: Principal, *, after: int, limit: int, purpose: str | None,
                 note: str | None) -> tuple[list[dict[str, Any]], int | None]:
    """A page of the log: the events of the auditor's jurisdiction (a national auditor: all), sealed
    fields opened when an auditor_pii names a purpose — recorded before anything is returned."""
    require_auditor(actor)
    opening = _opening(actor, purpose)
    page = runtime.require_relay().published(after, limit)
    visible = [e for e in page if covers(actor.org, e.tenant)]
    data = [e.to_dict() for e in visible]
    if opening and visible:
        record_access(runtime.application, tenant=actor.org, accessed_by=actor.sub, accessor_org=actor.org,
                      purpose_code=str(purpose), note=note, subject=None,
                      first_sequence=visible[0].sequence, last_sequence=visible[-1].sequence)
        for item in data:
            item["data"] = _opened(runtime, item["data"])
    return data, page[-1].sequence if len(page) == limit else None


def disclose_subject(runtime: Any, actor: Principal, subject: str, *, purpose: str, note: str | None) -> dict:
    """Everything this service holds about one person inside the auditor's jurisdiction (開示請求),
    sealed fields opened; 404 when none (held elsewhere, or not at all: the same answer)."""
    actor.require(PII_AUDITOR)
    _opening(actor, purpose)
    runtime.catch_up()
    events: list[dict[str, Any]] = []
    for aggregate_id in dict.fromkeys([subject, *records_about(runtime.engine, subject)]):
        try:
            history = runtime.application.history(UUID(aggregate_id))
        except ValueError:  # not an aggregate id of this service
            continue
        events += [e for e in history if covers(actor.org, e["tenant"])]
    if not events:
        raise SubjectNotFound(f"no records of {subject} in the jurisdiction of {actor.org}")
    record_access(runtime.application, tenant=events[0]["tenant"], accessed_by=actor.sub, accessor_org=actor.org,
                  purpose_code=purpose, note=note, subject=subject)
    for e in events:
        e["data"] = _opened(runtime, e["data"])
    return {"service": runtime.settings.service, "subject": subject, "events": events,
            "provisions": visible_rows(actor, transfers_of(runtime.engine, subject=subject, counterpart=None)),
            "consents": visible_rows(actor, consents_of(runtime.engine, subject, None))}


def visible_rows(actor: Principal, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Privacy records (provisions, consents) of the auditor's jurisdiction."""
    return [r for r in rows if covers(actor.org, r["tenant"])]
