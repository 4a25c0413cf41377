"""年度末登録者数: the supporters registered at the end of each fiscal year (31 March), per registrar,
kept as a count per fiscal-year end × registrar in the projection's transaction.

"Registered on 31 March" is a state on a day, not a count of the year's facts: a term of three
years counts at three fiscal-year ends, a withdrawal (辞退) or revocation (取消し) takes a supporter
out of every end after it. Counting it from the terms at report time reads every term ever
recorded (O(history)); here each term or ending re-reads that one supporter's terms and endings
(a few rows, indexed by supporter), works out at which fiscal-year ends the supporter counts
before and after the fact, and moves those cells by one. The rule is `ends_registered`, the same
as the query of the facts (queries/supporters.registered_on), which a report "as of" a past
instant still runs; services/reporting/tests/test_tallies.py compares the two over random streams.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date
from itertools import groupby

from sqlalchemy import BigInteger, Column, Connection, Integer, Table, select

from libs.domain.fiscal import fiscal_year
from services.reporting.projections.tables import metadata, supporter_endings, supporter_terms

# A withdrawal (辞退) or revocation (取消し) ends a term at once; expiry is the term's own end date.
CANCELLING = ("withdrawn", "revoked")

table = Table("rp_supporter_registered_counts", metadata,
              Column("fy", Integer, primary_key=True),
              Column("tenant", supporter_terms.c.tenant.type, primary_key=True),
              Column("n", BigInteger, nullable=False))

Term = tuple[str, date, date]  # tenant, term_starts_on, term_ends_on
Cell = tuple[int, str]  # fiscal year, tenant


def fiscal_year_end(fy: int) -> date:
    return date(fy + 1, 3, 31)


def ends_registered(terms: Iterable[Term], cancelled_on: Iterable[date]) -> set[Cell]:
    """The fiscal-year ends (with the registrar) at which one supporter is registered: a term covers
    the day (term_starts_on ≤ 31 March ≤ term_ends_on) and no withdrawal or revocation fell on or
    before that day and on or after the term's start."""
    cancels = sorted(cancelled_on)
    cells: set[Cell] = set()
    for tenant, starts, ends in terms:
        for fy in range(fiscal_year(starts), fiscal_year(ends) + 1):
            day = fiscal_year_end(fy)
            if starts <= day <= ends and not any(starts <= c <= day for c in cancels):
                cells.add((fy, tenant))
    return cells


def of_supporter(conn: Connection, supporter_id: str) -> set[Cell]:
    """Where one supporter counts now, from its facts."""
    t, e = supporter_terms, supporter_endings
    terms = conn.execute(select(t.c.tenant, t.c.term_starts_on, t.c.term_ends_on)
                         .where(t.c.supporter_id == supporter_id)).tuples().all()
    cancels = conn.execute(select(e.c.ended_on).where(e.c.supporter_id == supporter_id,
                                                      e.c.reason.in_(CANCELLING))).scalars().all()
    return ends_registered(terms, cancels)


def move(conn: Connection, before: set[Cell], after: set[Cell]) -> None:
    """Count the supporter out of the cells it left and into those it entered."""
    for (fy, tenant), sign in [*((c, -1) for c in before - after), *((c, 1) for c in after - before)]:
        key = (table.c.fy == fy) & (table.c.tenant == tenant)
        if not conn.execute(table.update().where(key).values(n=table.c.n + sign)).rowcount:
            conn.execute(table.insert().values(fy=fy, tenant=tenant, n=sign))
        if sign < 0:  # a cell exists while someone counts in it, as in a derived table
            conn.execute(table.delete().where(key, table.c.n <= 0))


def counted(conn: Connection) -> Counter[Cell]:
    """Every cell again from the facts (a supporter's terms and endings read together)."""
    t, e = supporter_terms, supporter_endings
    cancels: dict[str, list[date]] = {}
    for supporter_id, on in conn.execute(select(e.c.supporter_id, e.c.ended_on).where(e.c.reason.in_(CANCELLING))):
        cancels.setdefault(supporter_id, []).append(on)
    rows = conn.execute(select(t.c.supporter_id, t.c.tenant, t.c.term_starts_on, t.c.term_ends_on)
                        .order_by(t.c.supporter_id))
    cells: Counter[Cell] = Counter()
    for supporter_id, terms in groupby(rows, key=lambda r: r[0]):
        cells.update(ends_registered([tuple(r)[1:] for r in terms], cancels.get(supporter_id, ())))
    return cells


class RegisteredCounts:
    """The count table with the interface of a tally where a projection derives it (`table`, `derive`)."""

    table = table

    def derive(self, conn: Connection) -> None:
        conn.execute(table.delete())
        cells = counted(conn)
        if cells:
            conn.execute(table.insert(), [{"fy": fy, "tenant": tenant, "n": n}
                                          for (fy, tenant), n in sorted(cells.items())])  # as Tally.derive


registered_counts = RegisteredCounts()
