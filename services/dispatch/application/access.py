"""Who may see and act on a dispatch, in one place.

Municipal officers of the tenant run dispatches; a supporter sees only the dispatches assigned
to them (sub == supporter id and org == their registrar: libs/platform/web/supporters.py); staff
of the centre that asked for it follow it (read only) while the person consents to support
meetings; nobody else sees anything (404)."""

from __future__ import annotations

from uuid import UUID

from libs.platform.web.auth import NotAllowed, Principal
from libs.platform.web.supporters import SUPPORTER
from services.dispatch.application.base import CENTRE_STAFF, OFFICER, DispatchBase
from services.dispatch.domain.dispatch import Dispatch
from services.dispatch.domain.errors import DispatchNotFound


class DispatchAccess(DispatchBase):
    def get_dispatch(self, actor: Principal, dispatch_id: UUID) -> Dispatch:
        dispatch = self.existing(Dispatch, dispatch_id)
        if dispatch is None or not self._sees(actor, dispatch):
            raise DispatchNotFound(f"no dispatch {dispatch_id} visible to you")
        return dispatch

    def _dispatch_for_officer(self, actor: Principal, dispatch_id: UUID) -> Dispatch:
        """Seen, and the caller is an officer of its municipality (a following centre is refused)."""
        dispatch = self.get_dispatch(actor, dispatch_id)
        if not _officer_of(actor, dispatch):
            raise NotAllowed("only an officer of the municipality may do this")
        return dispatch

    def _dispatch_for_supporter(self, actor: Principal, dispatch_id: UUID) -> Dispatch:
        """Seen, and the caller is the assigned supporter (id and registrar): a token that sees the
        dispatch as its municipality's officer or its centre's staff and also says supporter,
        bearing their id, is not them (the aggregate checks the id alone)."""
        dispatch = self.get_dispatch(actor, dispatch_id)
        actor.require(SUPPORTER)
        if not self._is_the_supporter(actor, dispatch.tenant, dispatch.supporter_id):
            raise NotAllowed("only the assigned supporter may do this")
        return dispatch

    def _dispatch_for_officer_or_supporter(self, actor: Principal, dispatch_id: UUID) -> Dispatch:
        if actor.has(SUPPORTER) and not actor.has(OFFICER):
            return self._dispatch_for_supporter(actor, dispatch_id)
        return self._dispatch_for_officer(actor, dispatch_id)

    def get_dispatch_activity(self, actor: Principal, dispatch_id: UUID) -> Dispatch:
        """A dispatch whose activity (its reports, its incidents) the caller may read: the
        municipality's officer or the assigned supporter, who write it; not the referring centre,
        which follows the dispatch but is refused its timeline too."""
        return self._dispatch_for_officer_or_supporter(actor, dispatch_id)

    def _dispatch_record_for_officer(self, actor: Principal, dispatch_id: UUID) -> Dispatch:
        """The dispatch's records (timeline, consent receipt): seen, and the caller is an officer."""
        dispatch = self.get_dispatch(actor, dispatch_id)
        self._officer_tenant(actor)
        return dispatch

    def _sees(self, actor: Principal, dispatch: Dispatch) -> bool:
        if _officer_of(actor, dispatch):
            return True
        if actor.has(CENTRE_STAFF) and dispatch.shared_with_centre(actor.org):
            return True
        return self._is_the_supporter(actor, dispatch.tenant, dispatch.supporter_id)


def _officer_of(actor: Principal, dispatch: Dispatch) -> bool:
    return actor.has(OFFICER) and actor.org == dispatch.tenant


