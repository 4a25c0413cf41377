"""What an auditor reads through the audit API, in one place: the log and the records of one
person, bounded by the auditor's jurisdiction (libs/domain/audit.covers), sealed fields opened
only for auditor_pii with a purpose code, and every opening recorded (SECURITY.md)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends

from libs.domain.audit import NATIONAL, covers
from libs.domain.errors import NotFound
from libs.domain.prefectures import local_government_label
from libs.platform.privacy.access import AUDITORS, PII_AUDITOR, UnknownPurpose, record_access
from libs.platform.privacy.records import consents_of, events_about, records_about, transfers_of
from libs.platform.privacy.sealed_values import is_sealed
from libs.platform.web.auth import NotAllowed, Principal
from libs.platform.web.deps import PrincipalDep


class SubjectNotFound(NotFound):
    problem = "subject-not-found"
    title = "No records of this person in your jurisdiction"


def require_auditor(actor: Principal) -> None:
    actor.require(*AUDITORS)


async def auditor(actor: PrincipalDep) -> Principal:
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
    sealed fields opened; 404 when none (held elsewhere, or not at all: the same answer). Records
    of aggregates about many people (a training course) give only the events about this person;
    `names` names the parties (recipients, controllers) the records know by id or code."""
    actor.require(PII_AUDITOR)
    _opening(actor, purpose)
    runtime.catch_up()
    mentioned = events_about(runtime.engine, subject)
    events: list[dict[str, Any]] = []
    for aggregate_id in dict.fromkeys([subject, *records_about(runtime.engine, subject), *mentioned]):
        try:
            history = runtime.application.history(UUID(aggregate_id))
        except ValueError:  # not an aggregate id of this service
            continue
        if aggregate_id in mentioned and aggregate_id != subject:
            history = [e for e in history if e["id"] in mentioned[aggregate_id]]
        events += [e for e in history if covers(actor.org, e["tenant"])]
    if not events:
        raise SubjectNotFound(f"no records of {subject} in the jurisdiction of {actor.org}")
    record_access(runtime.application, tenant=events[0]["tenant"], accessed_by=actor.sub, accessor_org=actor.org,
                  purpose_code=purpose, note=note, subject=subject)
    for e in events:
        e["data"] = _opened(runtime, e["data"])
    provisions = visible_rows(actor, transfers_of(runtime.engine, subject=subject, counterpart=None))
    consents = visible_rows(actor, consents_of(runtime.engine, subject, None))
    return {"service": runtime.settings.service, "subject": subject, "events": events,
            "provisions": provisions, "consents": consents,
            "names": party_names(runtime, [*(p["counterpart"] for p in provisions), *(p["tenant"] for p in provisions),
                                           *(str(v) for c in consents for v in _consent_parties(c)),
                                           *(e["tenant"] for e in events), *_ids_in(events)])}


def _ids_in(events: list[dict[str, Any]]) -> list[str]:
    """Ids the events name at their top level (a centre, an agency) and their aggregates' (a
    training course), so that the person reads names rather than ids."""
    found: list[str] = []
    for e in events:
        found.append(e["subject"])
        for value in e["data"].values():
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, str) and len(v) == 36 and v.count("-") == 4:
                    found.append(v)
    return found


def _consent_parties(consent: dict[str, Any]) -> list[Any]:
    record = consent["data"].get("record") or {}
    return [consent["tenant"], *(record.get("recipients") or []), *([record["controller"]] if record.get("controller")
                                                                    else [])]


def party_names(runtime: Any, ids: list[str]) -> dict[str, str]:
    """Names of parties: local governments by code (libs/domain/prefectures), the rest by the
    service's own lists (ServiceSpec.name_parties). An id no list knows is left out."""
    unique = list(dict.fromkeys(i for i in ids if i))
    names = {i: label for i in unique if (label := local_government_label(i)) is not None}
    names |= runtime.name_parties([i for i in unique if i not in names])
    return names


def visible_rows(actor: Principal, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Privacy records (provisions, consents) of the auditor's jurisdiction."""
    return [r for r in rows if covers(actor.org, r["tenant"])]
