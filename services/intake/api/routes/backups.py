"""/v1/backups: 後方支援・立ち上げ支援 a prefecture gives the municipalities inside it; both sides see it."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Response

from libs.platform.web.deps import IdempotencyKey, PrincipalDep
from libs.platform.web.inputs import Cursor
from libs.platform.web.routing import OneHopRoute
from services.intake.api.deps import IntakeDep, IntakeReadsDep
from services.intake.api.schemas import BackupCreate, BackupKind, BackupPublic, BackupsPublic
from services.intake.application import IntakeApplication
from services.intake.domain.backup import Backup

router = APIRouter(route_class=OneHopRoute, prefix="/v1", tags=["prefectural back-up"])


def _out(app: IntakeApplication, b: Backup) -> BackupPublic:
    note = app.opened_note(b)
    return BackupPublic.model_validate({
        "id": b.id, "tenant": b.tenant, "municipality": b.municipality, "kind": b.kind, "given_on": b.given_on,
        "centre_id": b.centre_id, "programme_id": b.programme_id, "staff_role": b.staff_role,
        "staff_days": b.staff_days, "note": note})


@router.post("/backups", status_code=201, response_model=BackupPublic)
def give_backup(body: BackupCreate, actor: PrincipalDep, app: IntakeDep, response: Response,
                idempotency_key: IdempotencyKey = None) -> BackupPublic:
    b, created = app.give_backup(actor, idempotency_key=idempotency_key, **body.model_dump())
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/backups/{b.id}"
    return _out(app, b)


@router.get("/backups", response_model=BackupsPublic)
def list_backups(actor: PrincipalDep, reads: IntakeReadsDep, kind: BackupKind | None = None,
                 cursor: Cursor = None, limit: int = Query(default=50, ge=1, le=500)) -> BackupsPublic:
    """For a prefecture officer what it gave; for a municipal officer what it received."""
    rows = reads.backups(actor, kind=kind, after=cursor, limit=limit)
    return BackupsPublic.model_validate(
        {"data": rows, "next_cursor": rows[-1]["backup_id"] if len(rows) == limit else None})


@router.get("/backups/{backup_id}", response_model=BackupPublic)
def get_backup(backup_id: UUID, actor: PrincipalDep, app: IntakeDep) -> BackupPublic:
    return _out(app, app.get_backup(actor, backup_id))
