"""Who is a given supporter: one rule for registry and dispatch.

A supporter's token names them by `sub` = their supporter id (the registry's) and `org` = the
registrar they are registered with (the prefecture or designated city, the tenant of their
registration), and was signed by the one issuer this deployment trusts (libs/platform/web/auth.py
refuses every other). `sub` alone is not enough: it is an identifier another organisation's users
may hold as well (their own ids at the same issuer), and an id is no secret (it travels on the
roster, in dispatches and on the bus), so a token of another prefecture bearing it must not reach
that supporter's registration, dispatches or deployments (SECURITY.md)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from libs.platform.web.auth import Principal

SUPPORTER = "supporter"


def is_the_supporter(actor: Principal, supporter_id: UUID | str | None, registrar: Callable[[], str | None]) -> bool:
    """Whether the caller is this supporter: a supporter token whose sub is the id and whose org is
    the registrar the supporter is registered with. `registrar` is asked only for a supporter token
    bearing the id (dispatch reads it from the roster it was given)."""
    return actor.has(SUPPORTER) and supporter_id is not None and actor.sub == str(supporter_id) \
        and actor.org == registrar()
