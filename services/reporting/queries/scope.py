"""Who may see which rows of a report, and which rows existed "as of" an instant.

- ministry: the whole nation, less the demo tenants (a local government that registered a demo
  centre, and a demo prefecture's municipalities): `make run`'s demo never counts nationally;
- auditor, auditor_pii: their jurisdiction, as in every service (libs/domain/audit.covers): a
  national auditor (org 000000) the nation (its nationwide figures, like the ministry's, less the
  demo tenants; naming a demo prefecture shows its rows), a prefecture's its prefecture and the local
  governments inside it, a municipality's itself, any other org nothing;
- prefecture_officer: a prefecture (PP000C) sees itself and every local government inside it
  (same first two digits); a designated city sees itself;
- centre_staff: its own centre (intake tables only);
- municipal_officer: its own municipality (supporter and dispatch tables only);
- anyone else: 403.

A `prefecture` filter (the prefecture's own 全国地方公共団体コード, PP000C) narrows any of these to
the rows of that prefecture and its municipalities: the nation's callers may name any prefecture,
every other caller only the prefecture its own jurisdiction lies in (403 otherwise: the filter
never widens what a caller sees).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, FromClause, Select, Table, false, func, not_, select, true

from libs.domain.audit import NATIONAL
from libs.domain.codes import DEMO_PREFECTURE_PARTS, InvalidLgCode, is_prefecture, validate_lg_code, within
from libs.domain.errors import InvalidInput
from libs.platform.privacy.access import AUDITORS
from libs.platform.web.auth import NotAllowed, Principal
from services.reporting.projections import centres

NATIONWIDE_ROLES = ("ministry",)


def not_demo(tenant: ColumnElement[str]) -> ColumnElement[bool]:
    """Rows of no demo tenant: the tenant of a demo centre, every local government of a demo
    prefecture, and every code of a demo prefecture part (libs/domain/codes.is_demo_code; only those
    may hold a demo centre, so a real government can never drop out of the national tables).
    Prefecture- and municipality-level reports still show a demo tenant its own rows."""
    c = centres.alias("demo_centres")  # an alias: a query over rp_centres must not correlate with it
    demo = c.c.demo.is_(True)
    prefectures = select(func.substr(c.c.tenant, 1, 2)).where(demo, func.substr(c.c.tenant, 3, 3) == "000")
    return (tenant.not_in(select(c.c.tenant).where(demo)) & func.substr(tenant, 1, 2).not_in(prefectures)
            & func.substr(tenant, 1, 2).not_in(DEMO_PREFECTURE_PARTS))


def in_prefecture(actor: Principal, prefecture: str | None, tenant: ColumnElement[str]) -> ColumnElement[bool] | None:
    """Rows of `prefecture` (None: no filter), once the caller may ask for it."""
    if prefecture is None:
        return None
    if not is_prefecture(prefecture):  # an invalid code raises InvalidLgCode (422) here
        raise InvalidInput(f"{prefecture} is not a prefecture's code (PP000C, e.g. 130001 for 東京都)")
    if not (actor.has(*NATIONWIDE_ROLES) or (actor.has(*AUDITORS) and actor.org == NATIONAL)):
        try:
            inside = within(prefecture, actor.org)
        except InvalidLgCode:  # a centre's id: it sees its own centre, and names no prefecture
            inside = False
        if not inside:
            raise NotAllowed(f"prefecture {prefecture} is outside the caller's jurisdiction")
    return func.substr(tenant, 1, 2) == prefecture[:2]


def _narrowed(visible: ColumnElement[bool] | None, filtered: ColumnElement[bool] | None) -> ColumnElement[bool] | None:
    if filtered is None:
        return visible
    return filtered if visible is None else visible & filtered


def visible_centres(actor: Principal, prefecture: str | None = None) -> ColumnElement[bool] | None:
    """The rp_centres rows the caller may see (None: all of them), in `prefecture` if given."""
    return _narrowed(_visible_centres(actor, prefecture), in_prefecture(actor, prefecture, centres.c.tenant))


def _visible_centres(actor: Principal, prefecture: str | None) -> ColumnElement[bool] | None:
    if actor.has(*NATIONWIDE_ROLES):
        return not_demo(centres.c.tenant)
    if actor.has(*AUDITORS):
        return _jurisdiction(actor, centres.c.tenant, prefecture)
    if actor.has("prefecture_officer"):
        return _region(actor, centres.c.tenant)
    if actor.has("centre_staff"):
        return centres.c.centre_id == actor.org
    raise NotAllowed("centre reports are for the ministry, prefectures, designated cities and centres")


def visible_tenants(actor: Principal, tenant: ColumnElement[str],
                    prefecture: str | None = None) -> ColumnElement[bool] | None:
    """The rows of a per-local-government table (supporters, dispatch) the caller may see."""
    return _narrowed(_visible_tenants(actor, tenant, prefecture), in_prefecture(actor, prefecture, tenant))


def _visible_tenants(actor: Principal, tenant: ColumnElement[str],
                     prefecture: str | None) -> ColumnElement[bool] | None:
    if actor.has(*NATIONWIDE_ROLES):
        return not_demo(tenant)
    if actor.has(*AUDITORS):
        return _jurisdiction(actor, tenant, prefecture)
    if actor.has("prefecture_officer"):
        return _region(actor, tenant)
    if actor.has("municipal_officer"):
        return tenant == actor.org
    raise NotAllowed("supporter and dispatch reports are for the ministry, prefectures and municipalities")


def _jurisdiction(actor: Principal, tenant: ColumnElement[str], prefecture: str | None) -> ColumnElement[bool] | None:
    """The same bounds as libs/domain/audit.covers, as a clause (None: the whole nation). A national
    auditor's figure of the whole nation leaves out the demo tenants, as the ministry's does (the two
    must agree); with a prefecture named it sees that prefecture's rows, a demo one's included."""
    if actor.org == NATIONAL:
        return not_demo(tenant) if prefecture is None else None
    try:
        validate_lg_code(actor.org)
    except InvalidLgCode:
        return false()
    return _region(actor, tenant)


def _region(actor: Principal, tenant: ColumnElement[str]) -> ColumnElement[bool]:
    if is_prefecture(actor.org):
        return func.substr(tenant, 1, 2) == actor.org[:2]
    return tenant == actor.org


def centre_ids(actor: Principal, as_of: datetime | None, prefecture: str | None = None) -> Select:
    """The ids of the centres in scope (and registered by `as_of`), to filter facts by centre."""
    query = select(centres.c.centre_id).where(until(centres.c.registered_at, as_of))
    visible = visible_centres(actor, prefecture)
    return query if visible is None else query.where(visible)


def of_visible_centres(cells: FromClause, actor: Principal, as_of: datetime | None,
                       prefecture: str | None = None) -> ColumnElement[bool]:
    """Cells (queries/common.cells) of the centres the caller may see, registered by `as_of`."""
    return cells.c.centre_id.in_(centre_ids(actor, as_of, prefecture))


def of_visible_cells(cells: FromClause, actor: Principal, prefecture: str | None = None) -> ColumnElement[bool]:
    """Cells of a per-local-government tally that the caller may see."""
    visible = visible_tenants(actor, cells.c.tenant, prefecture)
    return true() if visible is None else visible


def of_visible_tenants(table: Table, actor: Principal, as_of: datetime | None,
                       prefecture: str | None = None) -> ColumnElement[bool]:
    visible = visible_tenants(actor, table.c.tenant, prefecture)
    clause = until(table.c.time, as_of)
    return clause if visible is None else clause & visible


def until(column: ColumnElement[datetime], as_of: datetime | None) -> ColumnElement[bool]:
    return true() if as_of is None else column <= as_of


def not_voided(column: ColumnElement[datetime], as_of: datetime | None) -> ColumnElement[bool]:
    """A fact that was not voided (by `as_of`, when given: a later void did not exist yet)."""
    return column.is_(None) if as_of is None else column.is_(None) | (column > as_of)


def as_of_utc(as_of: datetime | None) -> datetime | None:
    """The as-of instant in UTC, as the projections store envelope times; a naive one is refused."""
    if as_of is None:
        return None
    if as_of.tzinfo is None:
        raise InvalidInput("as_of needs a timezone, e.g. 2017-03-31T23:59:59+09:00")
    return as_of.astimezone(UTC)


def nationwide(actor: Principal, as_of: datetime | None, prefecture: str | None) -> bool:
    """A report of the present over the whole nation (less the demo tenants): the ministry's or a
    national auditor's, with no prefecture named. Such a report reads a roll-up's national cells
    (queries/common.rolled_up) instead of every cell of its year."""
    if as_of is not None or prefecture is not None:
        return False
    return actor.has(*NATIONWIDE_ROLES) or (actor.has(*AUDITORS) and actor.org == NATIONAL)


def hidden_centres(centre_id: ColumnElement[str], actor: Principal) -> ColumnElement[bool]:
    """Centres the caller may not see in a report of the present (a centre not registered among them)."""
    return centre_id.not_in(centre_ids(actor, None))


def hidden_tenants(tenant: ColumnElement[str], actor: Principal) -> ColumnElement[bool]:
    """Local governments the caller may not see in a report of the present."""
    visible = visible_tenants(actor, tenant)
    return false() if visible is None else not_(visible)
