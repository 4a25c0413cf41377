"""Who sees what in intake, in one place: the rules every use case and every read applies.

Centres (main/satellite) are registered by their prefecture or designated city; municipal
consultation windows by their municipality. A case is seen by staff of its centre (org == centre
id) and, for a window, by the municipality's officers; nobody else (404). Programmes and places
belong to the local governments running them; the prefecture backs them up (後方支援).

Writes stay inside the writer's jurisdiction (a prefecture: itself and its municipalities; a
municipality: itself): an agency, a place or a centre's profile names a municipality the writing
government answers for, else 403. A programme's other operators are named, not bound: each must
accept (ProgrammeOperatorAccepted) before the programme runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from libs.domain.codes import is_prefecture, prefecture_of, within
from libs.platform.web.auth import NotAllowed, Principal
from services.intake.domain.centre import Centre

OFFICERS = ("prefecture_officer", "municipal_officer")


def sees_centre(actor: Principal, centre: Centre) -> bool:
    if actor.has("centre_staff") and actor.org == str(centre.id):
        return True
    return actor.has(*OFFICERS) and actor.org == centre.tenant


def runs_centre(actor: Principal, centre: Centre) -> bool:
    return actor.has(*OFFICERS) and actor.org == centre.tenant


def require_jurisdiction(actor: Principal, municipality: str, what: str) -> None:
    """A write that names a municipality: only by a government whose jurisdiction covers it."""
    if not within(actor.org, municipality):
        raise NotAllowed(f"{municipality} is outside the jurisdiction of {actor.org}: "
                         f"a local government writes {what} only inside its own jurisdiction")


def sees_local(actor: Principal, tenant: str, operators: Sequence[str], invited: Sequence[str] = ()) -> bool:
    """The running local governments, those invited to run it, and the prefecture that backs them
    up (後方支援)."""
    if not actor.has(*OFFICERS):
        return False
    if actor.org in operators or actor.org in invited:
        return True
    return is_prefecture(actor.org) and prefecture_of(tenant) == actor.org


def runs_programme(actor: Principal, operators: list[str]) -> bool:
    return actor.has(*OFFICERS) and actor.org in operators


def runs_place(actor: Principal, tenant: str) -> bool:
    return actor.has(*OFFICERS) and actor.org == tenant


def removes_listing(actor: Principal, tenant: str, municipality: str) -> bool:
    """Who takes an agency or a place out of the public directory: the government that wrote it, or,
    for one written outside its writer's jurisdiction (before writes were bound to it), the
    governments answering for the municipality it is listed in — else nobody could remove it."""
    if not actor.has(*OFFICERS):
        return False
    return actor.org == tenant or (not within(tenant, municipality) and within(actor.org, municipality))


def sees_backup(actor: Principal, tenant: str, municipality: str) -> bool:
    """The prefecture that gave it and the municipality that received it."""
    return actor.has(*OFFICERS) and actor.org in (tenant, municipality)


def staffs_centre(actor: Principal, centre_id: object) -> bool:
    return actor.has("centre_staff") and actor.org == str(centre_id)
