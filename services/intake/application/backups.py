"""Use cases of 後方支援・立ち上げ支援 a prefecture gives the municipalities inside it."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from libs.domain.codes import is_prefecture, validate_lg_code
from libs.platform.store.sealed import sealing
from libs.platform.web.auth import Principal
from services.intake.application.access import sees_backup
from services.intake.application.centres import CentreUseCases
from services.intake.application.programmes import ProgrammeUseCases
from services.intake.domain.backup import Backup
from services.intake.domain.errors import BackupNotFound, InvalidProgramme, UnknownCentre


class BackupUseCases(CentreUseCases, ProgrammeUseCases):
    @sealing
    def give_backup(self, actor: Principal, *, municipality: str, kind: str, centre_id: UUID | None,
                    programme_id: UUID | None, staff_role: str | None, staff_days: int | None, note: str | None,
                    given_on: date, idempotency_key: str | None) -> tuple[Backup, bool]:
        actor.require("prefecture_officer")
        tenant = validate_lg_code(actor.org)
        Backup.check(tenant=tenant, municipality=municipality, kind=kind, staff_role=staff_role, staff_days=staff_days)
        if centre_id is not None and self.get_centre(actor, centre_id).tenant != tenant:
            raise UnknownCentre(f"no centre {centre_id} of yours")
        if programme_id is not None and municipality not in self.get_programme(actor, programme_id).operators:
            raise InvalidProgramme(f"programme {programme_id} is not run by {municipality}")
        creation = self.creation("backup", tenant, idempotency_key, municipality=municipality, kind=kind,
                                 centre_id=centre_id, programme_id=programme_id, staff_role=staff_role,
                                 staff_days=staff_days, note=note, given_on=given_on)
        backup_id = creation.new_id()
        # Sealed as {"text": …} under the back-up's own key: the note may speak of persons.
        return self.create_once(Backup, backup_id, lambda: Backup.give(
            id=backup_id, tenant=tenant, municipality=municipality, kind=kind, given_on=given_on, centre_id=centre_id,
            programme_id=programme_id, staff_role=staff_role, staff_days=staff_days,
            note=self.seal(backup_id, {"text": note}) if note else None), creation)

    def get_backup(self, actor: Principal, backup_id: UUID) -> Backup:
        """Seen by the prefecture that gave it and by the municipality that received it."""
        backup = self.existing(Backup, backup_id)
        if backup is None or not sees_backup(actor, backup.tenant, backup.municipality):
            raise BackupNotFound(f"no back-up {backup_id} visible to you")
        return backup

    def opened_note(self, backup: Backup) -> str | None:
        opened = self.sealer.open(backup.note) if backup.note else None
        return opened.get("text") if isinstance(opened, dict) else None

    @staticmethod
    def backup_scope(actor: Principal) -> dict[str, str]:
        """What the caller lists: a prefecture what it gave, a municipality what it received."""
        if actor.has("prefecture_officer") and is_prefecture(actor.org):
            return {"tenant": actor.org}
        actor.require("municipal_officer")
        return {"municipality": validate_lg_code(actor.org)}
