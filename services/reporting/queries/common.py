"""Small helpers shared by the report queries."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, Connection, FromClause, func, select


def count_by(conn: Connection, source: FromClause, key: ColumnElement, *where: ColumnElement[bool],
             known: Iterable[str] = ()) -> dict[str, int]:
    """Row counts by `key`: every known code first (0 when absent), then any other code found
    (a missing value, e.g. a consultation of a case not projected, counts as "unknown")."""
    query = select(key.label("key"), func.count().label("n")).select_from(source).where(*where).group_by(key)
    found: dict[str, int] = {}
    for r in conn.execute(query):
        code = "unknown" if r.key is None else str(r.key)
        found[code] = found.get(code, 0) + r.n
    counts = {code: found.pop(code, 0) for code in known}
    return counts | dict(sorted(found.items()))


def count(conn: Connection, source: FromClause, *where: ColumnElement[bool]) -> int:
    return conn.execute(select(func.count()).select_from(source).where(*where)).scalar_one()


def grouped(conn: Connection, source: FromClause, keys: tuple[ColumnElement, ...], *where: ColumnElement[bool],
            value: ColumnElement | None = None) -> dict[tuple, int]:
    """`value` (default: the row count) by the tuple of `keys`."""
    value = func.count() if value is None else func.coalesce(func.sum(value), 0)
    query = select(*keys, value.label("n")).select_from(source).where(*where).group_by(*keys)
    return {tuple(r)[:-1]: int(r.n) for r in conn.execute(query)}


def by_tenant(conn: Connection, source: FromClause, tenant: ColumnElement, *where: ColumnElement[bool],
              value: ColumnElement | None = None) -> dict[str, int]:
    return {key[0]: n for key, n in grouped(conn, source, (tenant,), *where, value=value).items()}
