"""Who sees what in intake, in one place: the rules every use case and every read applies.

Centres (main/satellite) are registered by their prefecture or designated city; municipal
consultation windows by their municipality. A case is seen by staff of its centre (org == centre
id) and, for a window, by the municipality's officers; nobody else (404). Programmes and places
belong to the local governments running them; the prefecture backs them up (後方支援).
"""

from __future__ import annotations

from libs.domain.codes import is_prefecture, prefecture_of
from libs.platform.web.auth import Principal
from services.intake.domain.centre import Centre

OFFICERS = ("prefecture_officer", "municipal_officer")


def sees_centre(actor: Principal, centre: Centre) -> bool:
    if actor.has("centre_staff") and actor.org == str(centre.id):
        return True
    return actor.has(*OFFICERS) and actor.org == centre.tenant


def runs_centre(actor: Principal, centre: Centre) -> bool:
    return actor.has(*OFFICERS) and actor.org == centre.tenant


def sees_local(actor: Principal, tenant: str, operators: list[str]) -> bool:
    """The running local governments, and the prefecture that backs them up (後方支援)."""
    if not actor.has(*OFFICERS):
        return False
    return actor.org in operators or (is_prefecture(actor.org) and prefecture_of(tenant) == actor.org)


def runs_programme(actor: Principal, operators: list[str]) -> bool:
    return actor.has(*OFFICERS) and actor.org in operators


def runs_place(actor: Principal, tenant: str) -> bool:
    return actor.has(*OFFICERS) and actor.org == tenant


def sees_backup(actor: Principal, tenant: str, municipality: str) -> bool:
    """The prefecture that gave it and the municipality that received it."""
    return actor.has(*OFFICERS) and actor.org in (tenant, municipality)


def staffs_centre(actor: Principal, centre_id: object) -> bool:
    return actor.has("centre_staff") and actor.org == str(centre_id)
