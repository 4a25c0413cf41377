"""Use cases of programmes (実施体制, サポート事業) and places (居場所) run by local governments."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from libs.domain.codes import validate_lg_code
from libs.platform.store.application import ServiceApplication
from libs.platform.store.creating import Created
from libs.platform.store.sealed import sealing
from libs.platform.web.auth import NotAllowed, Principal
from services.intake.application.access import (
    OFFICERS,
    removes_listing,
    require_jurisdiction,
    runs_place,
    runs_programme,
    sees_local,
)
from services.intake.domain.errors import UnknownCentre, WrongCaseStatus
from services.intake.domain.place import Place
from services.intake.domain.programme import Programme


class ProgrammeUseCases(ServiceApplication):
    def start_programme(self, actor: Principal, *, kind: str, name: str, operators: list[str],
                        activities: list[str], starts_on: date, ends_on: date | None, funding: dict[str, str],
                        idempotency_key: str | None) -> tuple[Programme, bool]:
        actor.require(*OFFICERS)
        tenant = validate_lg_code(actor.org)
        creation = self.creation("programme", tenant, idempotency_key, kind=kind, name=name,
                                 operators=sorted(operators), activities=sorted(activities), starts_on=starts_on,
                                 ends_on=ends_on, funding=funding)
        programme_id = creation.new_id()
        return self.create_once(Programme, programme_id, lambda: Programme.start(
            id=programme_id, tenant=tenant, kind=kind, name=name, operators=operators, activities=activities,
            starts_on=starts_on, ends_on=ends_on, funding=funding), creation)

    def get_programme(self, actor: Principal, programme_id: UUID) -> Programme:
        programme = self.existing(Programme, programme_id)
        if programme is None or not sees_local(actor, programme.tenant, programme.operators, programme.invited):
            raise UnknownCentre(f"no programme {programme_id} visible to you")
        return programme

    def accept_programme_operation(self, actor: Principal, programme_id: UUID, government: str, *,
                                   on: date) -> Programme:
        """The government named as operator agrees to run the programme (答えるのはその団体だけ)."""
        programme = self._programme_answered_by(actor, programme_id, government)
        self.change(programme, lambda p: p.accept_operation(government=government, accepted_on=on))
        return programme

    def decline_programme_operation(self, actor: Principal, programme_id: UUID, government: str, *,
                                    on: date) -> Programme:
        programme = self._programme_answered_by(actor, programme_id, government)
        self.change(programme, lambda p: p.decline_operation(government=government, declined_on=on))
        return programme

    def _programme_answered_by(self, actor: Principal, programme_id: UUID, government: str) -> Programme:
        """A programme the caller sees (else 404), answered for its own government only (else 403)."""
        programme = self.get_programme(actor, programme_id)
        if actor.org != government:
            raise NotAllowed("only the government named as operator answers its invitation")
        return programme

    def change_programme(self, actor: Principal, programme_id: UUID, *, activities: list[str],
                         funding: dict[str, str], changed_on: date) -> Programme:
        programme = self._programme_run_by(actor, programme_id)
        self.change(programme, lambda p: p.change(activities=activities, funding=funding, changed_on=changed_on))
        return programme

    def end_programme(self, actor: Principal, programme_id: UUID, *, ended_on: date,
                      handed_over_to: str | None) -> Programme:
        programme = self._programme_run_by(actor, programme_id)
        self.change(programme, lambda p: p.end(ended_on=ended_on, handed_over_to=handed_over_to))
        return programme

    def hold_group_activity(self, actor: Principal, programme_id: UUID, *, kind: str, held_on: date,
                            participants: int, agency_ids: list[UUID],
                            idempotency_key: str | None = None) -> Created[Programme]:
        creation = self.creation("group-activity", programme_id, idempotency_key, kind=kind, held_on=held_on,
                                 participants=participants, agency_ids=sorted(str(a) for a in agency_ids))
        return self.create_inside(creation, lambda: self._programme_run_by(actor, programme_id),
                                  lambda p, activity_id: p.hold_group_activity(
            activity_id=activity_id, kind=kind, held_on=held_on, participants=participants,
            agency_ids=[str(a) for a in agency_ids]))

    def _programme_run_by(self, actor: Principal, programme_id: UUID) -> Programme:
        """A programme the caller sees (else 404) and runs (else 403: the backing prefecture
        sees it but does not run it)."""
        programme = self.get_programme(actor, programme_id)
        if not runs_programme(actor, programme.operators):
            raise NotAllowed("only a local government running the programme")
        return programme

    # -- places -----------------------------------------------------------------------------
    def open_place(self, actor: Principal, *, programme_id: UUID | None, name: str, operator: str,
                   municipality: str, address: str, schedule: dict[str, list[str]],
                   idempotency_key: str | None) -> tuple[Place, bool]:
        actor.require(*OFFICERS)
        tenant = validate_lg_code(actor.org)
        require_jurisdiction(actor, municipality, "places")
        if programme_id is not None and (status := self.get_programme(actor, programme_id).status) != "running":
            raise WrongCaseStatus(f"the programme is {status}: a place opens under a running programme")
        creation = self.creation("place", tenant, idempotency_key, programme_id=programme_id, name=name,
                                 operator=operator, municipality=municipality, address=address, schedule=schedule)
        place_id = creation.new_id()
        return self.create_once(Place, place_id, lambda: Place.open(
            id=place_id, tenant=tenant, programme_id=programme_id, name=name, operator=operator,
            municipality=municipality, address=address, schedule=schedule), creation)

    @sealing
    def hold_place_session(self, actor: Principal, place_id: UUID, *, held_on: date, participants: int,
                           registered_participants: list[str], staff: int, supporter_ids: list[UUID],
                           idempotency_key: str | None) -> Created[Place]:
        refs = sorted(set(registered_participants))
        creation = self.creation("place-session", place_id, idempotency_key, held_on=held_on,
                                 participants=participants, registered_participants=refs, staff=staff,
                                 supporter_ids=sorted(str(s) for s in supporter_ids))

        def hold(p: Place, session_id: UUID) -> None:
            p.check_session(participants=participants, registered_participants=len(refs), staff=staff)
            # What an officer types as a participant's ref may be a name: sealed under the session.
            p.hold_session(session_id=session_id, held_on=held_on, participants=participants,
                           registered_participants=len(refs), participant_refs=self.seal(session_id, refs),
                           staff=staff, supporter_ids=[str(s) for s in supporter_ids])

        # A session held before the ledger had its id derived from the key: a retry finds it so.
        return self.create_inside(creation, lambda: self._place_run_by(actor, place_id), hold,
                                  legacy=lambda p: creation.legacy_in(p.sessions))

    def close_place(self, actor: Principal, place_id: UUID, *, closed_on: date) -> Place:
        """By the government running it; one opened outside its opener's jurisdiction also by the
        governments answering for its municipality (access.removes_listing)."""
        place = self.existing(Place, place_id)
        if place is None or not removes_listing(actor, place.tenant, place.municipality):
            raise UnknownCentre(f"no place {place_id} of yours")
        self.change(place, lambda p: p.close(closed_on=closed_on))
        return place

    def get_place(self, actor: Principal, place_id: UUID) -> Place:
        """A place, for the government running it (to anyone else it does not exist: 404)."""
        return self._place_run_by(actor, place_id)

    def _place_run_by(self, actor: Principal, place_id: UUID) -> Place:
        place = self.existing(Place, place_id)
        if place is None or not runs_place(actor, place.tenant):
            raise UnknownCentre(f"no place {place_id} of yours")
        return place
