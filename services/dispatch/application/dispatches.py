"""Use cases of a dispatch's course: request → assignment → acceptance → plan → start →
suspension and resumption → end (also at once when the person asks to stop)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

from libs.platform.store.sealed import sealing
from libs.platform.web.auth import Principal
from libs.platform.web.supporters import SUPPORTER
from services.dispatch.application.access import DispatchAccess
from services.dispatch.domain.dispatch import Dispatch


class DispatchUseCases(DispatchAccess):
    @sealing
    def request_dispatch(self, actor: Principal, *, subject_ref: str | None, requested_by: str, needs: list[str],
                         preferences: dict, requested_on: date, details: dict | None,
                         idempotency_key: str | None) -> tuple[Dispatch, bool]:
        """The dispatch and whether it was made now (False: a retry with the same key)."""
        tenant = self._officer_tenant(actor)
        creation = self.creation("dispatch", tenant, idempotency_key, subject_ref=subject_ref,
                                 requested_by=requested_by, needs=sorted(needs), preferences=preferences,
                                 requested_on=requested_on, details=details)
        dispatch_id = creation.new_id()

        def make() -> Dispatch:
            dispatch = Dispatch.request(id=dispatch_id, tenant=tenant, subject_ref=subject_ref or str(uuid4()),
                                        source="municipality", requested_by=requested_by, needs=needs,
                                        preferences=preferences, requested_on=requested_on)
            sealed = self.seal(dispatch_id, details)  # None when there are no details
            if sealed is not None:
                dispatch.record_subject_details(details=sealed)
            return dispatch

        return self.create_once(Dispatch, dispatch_id, make, creation)

    def list_dispatches(self, actor: Principal, *, status: str | None, after: str | None,
                        limit: int) -> list[dict]:
        return self.reads.dispatches(self._officer_tenant(actor), status=status, after=after, limit=limit)

    def my_dispatches(self, actor: Principal) -> list[dict]:
        """A supporter's own assignments (those whose roster entry came from the registrar the token
        names, as for one dispatch: libs/platform/web/supporters.py)."""
        actor.require(SUPPORTER)
        return self.reads.supporter_dispatches(actor.sub, registrar=actor.org)

    def timeline(self, actor: Principal, dispatch_id: UUID) -> list[dict[str, Any]]:
        """Every event of the dispatch, sealed fields left sealed."""
        self._dispatch_record_for_officer(actor, dispatch_id)
        return self.history(dispatch_id)

    def assign(self, actor: Principal, dispatch_id: UUID, *, supporter_id: UUID, assigned_on: date,
               expected_version: int | None) -> Dispatch:
        self._officer_tenant(actor)
        dispatch = self._dispatch_for_officer(actor, dispatch_id)
        entry = self._eligible_entry(dispatch.tenant, supporter_id, assigned_on)
        self.change(dispatch, lambda d: d.assign(
            supporter_id=supporter_id, registration_number=entry.registration_number,
            roster_entry_id=entry.id, assigned_on=assigned_on), expected_version=expected_version)
        return dispatch

    def accept_dispatch(self, actor: Principal, dispatch_id: UUID, *, accepted_on: date,
                        expected_version: int | None) -> Dispatch:
        """The assigned supporter agrees to act."""
        dispatch = self._dispatch_for_supporter(actor, dispatch_id)
        self.change(dispatch, lambda d: d.accept_as_supporter(supporter_id=UUID(actor.sub), accepted_on=accepted_on),
                    expected_version=expected_version)
        return dispatch

    @sealing
    def agree_plan(self, actor: Principal, dispatch_id: UUID, *, activities: list[str], plan: dict,
                   agreed_on: date, expected_version: int | None) -> Dispatch:
        """派遣目的・活動計画・活動内容, sealed: they describe the person."""
        dispatch = self._dispatch_for_officer(actor, dispatch_id)
        self.change(dispatch, lambda d: d.agree_plan(
            activities=activities, plan=self.seal_required(d.id, plan, "plan"), agreed_on=agreed_on),
            expected_version=expected_version)
        return dispatch

    def start(self, actor: Principal, dispatch_id: UUID, *, started_on: date,
              expected_version: int | None) -> Dispatch:
        dispatch = self._dispatch_for_officer(actor, dispatch_id)
        self.change(dispatch, lambda d: d.start(
            started_on=started_on, supporter_problems=self._supporter_problems(d.tenant, d.supporter_id, started_on)),
            expected_version=expected_version)
        return dispatch

    @sealing
    def suspend(self, actor: Principal, dispatch_id: UUID, *, reason: str, suspended_on: date, note: str | None,
                expected_version: int | None) -> Dispatch:
        """`reason` is a code; why in words goes to the sealed note."""
        dispatch = self._dispatch_for_officer(actor, dispatch_id)
        self.change(dispatch, lambda d: d.suspend(
            reason=reason, suspended_on=suspended_on, note=self._sealed_text(d, note)),
            expected_version=expected_version)
        return dispatch

    def resume(self, actor: Principal, dispatch_id: UUID, *, resumed_on: date,
               expected_version: int | None) -> Dispatch:
        dispatch = self._dispatch_for_officer(actor, dispatch_id)
        self.change(dispatch, lambda d: d.resume(
            resumed_on=resumed_on, supporter_problems=self._supporter_problems(d.tenant, d.supporter_id, resumed_on)),
            expected_version=expected_version)
        return dispatch

    def stop_on_request(self, actor: Principal, dispatch_id: UUID, *, stopped_on: date) -> Dispatch:
        """The person asked to stop: the dispatch ends at once, no approval step (no If-Match either)."""
        dispatch = self._dispatch_for_officer(actor, dispatch_id)
        self.change(dispatch, lambda d: d.end(reason="subject_requested_stop", ended_on=stopped_on))
        return dispatch

    def end_dispatch(self, actor: Principal, dispatch_id: UUID, *, reason: str, ended_on: date,
                     expected_version: int | None) -> Dispatch:
        dispatch = self._dispatch_for_officer(actor, dispatch_id)
        self.change(dispatch, lambda d: d.end(reason=reason, ended_on=ended_on), expected_version=expected_version)
        return dispatch
