"""Who may do what in the registry, in one place.

Officers (prefecture_officer / municipal_officer) of the registrar (org == tenant) write. A
supporter sees their own record (sub == supporter id and org == the registrar:
libs/platform/web/supporters.py) and may correct their details or withdraw their consent
themselves. Auditors (auditor, auditor_pii) whose jurisdiction holds the registrar
(libs/domain/audit.covers: the nation, the prefecture, the registrar itself) see its records,
without the person's details (auditor_pii opens those only through the audit API, for a purpose
code, recorded). Nobody else sees anything: 404, not 403, so that existence does not leak.
"""

from __future__ import annotations

from libs.domain.audit import covers
from libs.domain.codes import validate_lg_code
from libs.platform.privacy.access import AUDITORS
from libs.platform.web.auth import NotAllowed, Principal
from libs.platform.web.supporters import is_the_supporter as is_supporter
from services.registry.domain.supporter import Supporter

OFFICERS = ("prefecture_officer", "municipal_officer")


def officer_tenant(actor: Principal) -> str:
    """The registrar an officer works for; anyone else is refused before anything is read."""
    actor.require(*OFFICERS)
    return validate_lg_code(actor.org)


def is_officer_of(actor: Principal, tenant: str) -> bool:
    return actor.has(*OFFICERS) and actor.org == tenant


def is_the_supporter(actor: Principal, supporter: Supporter) -> bool:
    return is_supporter(actor, supporter.id, lambda: supporter.tenant)


def sees(actor: Principal, supporter: Supporter) -> bool:
    if actor.has(*OFFICERS) and actor.org == supporter.tenant:
        return True
    if actor.has(*AUDITORS) and covers(actor.org, supporter.tenant):
        return True
    return is_the_supporter(actor, supporter)


def sees_details(actor: Principal, supporter: Supporter) -> bool:
    """Auditors see the record, not the person's details (those open only through auditor_pii): the
    registrar's officers and the supporter do, as who they are, not by a role an auditor's token
    may name besides (a supporter's or an officer's of another org)."""
    return is_officer_of(actor, supporter.tenant) or is_the_supporter(actor, supporter)


def may_hold_card(actor: Principal, supporter: Supporter) -> None:
    if not sees_details(actor, supporter):
        raise NotAllowed("the 登録証 is for the registrar and the supporter")


def roster_registrar_scope(actor: Principal, municipality: str) -> str | None:
    """Whose provisions to a municipality the actor sees: the municipality's own officers, and
    auditors whose jurisdiction holds it, every registrar's (None); a registrar's officers and
    auditors only their own."""
    validate_lg_code(municipality)
    actor.require(*OFFICERS, *AUDITORS)
    if actor.has(*OFFICERS):
        return None if actor.org == municipality else actor.org
    return None if covers(actor.org, municipality) else actor.org


def sees_roster_details(actor: Principal, municipality: str) -> bool:
    """Only the recipient's officers open the provided items (the role, not only the org: an
    auditor of the municipality does not); the registrar keeps its own copy."""
    return actor.has(*OFFICERS) and actor.org == municipality
