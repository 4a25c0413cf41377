"""Count tables (tallies): each fact table's rows counted per fiscal year × the dimensions its reports
break it down by, kept in the same transaction as the facts. A report of the present reads the cells
of its year (O(cells)), not the year's fact rows (O(rows)); a report "as of" an instant still reads
the facts (their envelope times are what it filters on).

One SELECT … GROUP BY per tally says what its cells are; restricted to the facts an event touched it
is how the projection moves them (an upsert, `+` recorded, `-` retracted), unrestricted it derives
the whole table (a tally created on a database with facts, or the benchmark's bulk insert): the
incremental cells and the derived ones cannot disagree about what is counted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    FromClause,
    Integer,
    Label,
    MetaData,
    Select,
    String,
    Table,
    case,
    func,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert

from libs.domain import dispatch, intake
from libs.platform.readmodels.batch import insert_row, then
from libs.platform.store.bulk import one_of, strings
from services.reporting.projections.registered import registered_counts
from services.reporting.projections.tables import (
    activities,
    backoffice_supports,
    cases,
    consultations,
    deployment_activities,
    dispatch_events,
    group_activities,
    metadata,
    outreach_visits,
    place_sessions,
    prefectural_backups,
    referrals,
    rosters,
    support_decisions,
    supporter_endings,
    supporter_terms,
)

UNKNOWN = "unknown"  # a key a fact lacks (a consultation of a case not projected): as count_by names it
# Each tally's upsert of a batch's facts, compiled once per dialect (Tally.add_facts).
_COMPILED: dict[tuple[str, type, str], SQLCompiler] = {}


@dataclass(frozen=True)
class Tally:
    """A count table over one fact table: `n` rows (and `sums`) per value of `keys`."""

    table: Table
    facts: Table
    source: FromClause
    keys: tuple[Label, ...]  # labelled as the table's key columns
    sums: tuple[Label, ...] = ()
    where: ColumnElement[bool] | None = None  # which facts count (e.g. not voided)

    def cells(self, *where: ColumnElement[bool], sign: int = 1,
              counted: ColumnElement[bool] | None = None) -> Select:
        """The cells of the facts matching `where` (all of them without), times `sign`; `counted`
        replaces the tally's own condition (a report as of a past instant counts a fact voided later)."""
        values = [(func.count() * literal(sign)).label("n"),
                  *((func.coalesce(func.sum(s), 0) * literal(sign)).label(s.name) for s in self.sums)]
        query = select(*self.keys, *values).select_from(self.source).group_by(*self.keys)
        conditions = [c for c in (self.where if counted is None else counted, *where) if c is not None]
        return query.where(*conditions) if conditions else query

    @property
    def columns(self) -> list[str]:
        return [k.name for k in self.keys] + ["n"] + [s.name for s in self.sums]

    def add(self, conn: Connection, *where: ColumnElement[bool], sign: int = 1) -> None:
        """Move the cells of the facts matching `where` by `sign` (+1 recorded, -1 retracted)."""
        conn.execute(self._upsert(conn.dialect, *where, sign=sign))
        if sign < 0:  # a cell exists while a fact counts in it, as in a derived table
            conn.execute(self.table.delete().where(self.table.c.n <= 0))

    def add_facts(self, conn: Connection, event_ids: list[str]) -> None:
        """`add` of the facts recorded from events `event_ids` (the projection's usual move, once per
        batch: readmodels/batch.py), with its statement compiled once per dialect. SQLAlchemy 2.0
        caches no INSERT … ON CONFLICT (PostgreSQL's and SQLite's `Insert` have `inherit_cache =
        False`): built per call, the upsert was compiled again every time, 1–3 ms of CPU. So the ids
        go as one parameter whatever their number (an array on PostgreSQL, a JSON array on SQLite),
        which an IN list of bound values would not allow."""
        key = (self.table.name, type(conn.dialect), conn.dialect.paramstyle)
        compiled = _COMPILED.get(key)
        if compiled is None:
            among = one_of(self.facts.c.event_id, "b_event_ids", conn.dialect)
            compiled = _COMPILED[key] = self._upsert(conn.dialect, among).compile(dialect=conn.dialect)
        params = compiled.construct_params({"b_event_ids": strings(event_ids, conn.dialect)})
        if compiled.positional:
            conn.exec_driver_sql(compiled.string, tuple(params[name] for name in compiled.positiontup or ()))
        else:
            conn.exec_driver_sql(compiled.string, params)

    def _upsert(self, dialect: Dialect, *where: ColumnElement[bool], sign: int = 1) -> Insert:
        insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        upsert = insert(self.table).from_select(self.columns, self.cells(*where, sign=sign))
        moved = {name: self.table.c[name] + getattr(upsert.excluded, name)
                 for name in self.columns[len(self.keys):]}
        return upsert.on_conflict_do_update(index_elements=[k.name for k in self.keys], set_=moved)

    def derive(self, conn: Connection) -> None:
        """Every cell again from the facts (the projection's result, computed in one statement), written
        in key order: fiscal year first, so that on PostgreSQL a year's cells share heap pages (a
        hash aggregate's order spread them over the whole table, and a report read every page of it
        for one year: 185 pages for 1,500 cells at 100k consultations)."""
        conn.execute(self.table.delete())
        conn.execute(self.table.insert().from_select(self.columns, self.cells().order_by(*self.keys)))


def _table(name: str, *keys: Column, sums: tuple[str, ...] = (), into: MetaData = metadata) -> Table:
    return Table(name, into, Column("fy", Integer, primary_key=True),
                 *(Column(k.name, k.type, primary_key=True) for k in keys),
                 Column("n", BigInteger, nullable=False),
                 *(Column(s, BigInteger, nullable=False) for s in sums))


def _tally(name: str, facts: Table, *keys: str, sums: tuple[str, ...] = (),
           where: ColumnElement[bool] | None = None, into: MetaData = metadata) -> Tally:
    table = _table(name, *(facts.c[k] for k in keys), sums=sums, into=into)
    return Tally(table, facts, facts, tuple(facts.c[k].label(k) for k in ("fy", *keys)),
                 tuple(facts.c[s].label(s) for s in sums), where)


def _known(column: ColumnElement[str], name: str) -> Label:
    return func.coalesce(column, UNKNOWN).label(name)


# The pivots' fine cells of consultations and visits are not kept: tables only naming their columns.
UNKEPT = MetaData()
# 延べ相談件数 by centre, channel and the case's client kind and age group; a void retracts one.
consultation_counts = Tally(
    _table("rp_consultation_counts", consultations.c.centre_id, consultations.c.channel,
           Column("client_kind", String(16)), Column("age_group", String(16)), into=UNKEPT),
    consultations, consultations.outerjoin(cases, cases.c.case_id == consultations.c.case_id),
    (consultations.c.fy.label("fy"), consultations.c.centre_id.label("centre_id"),
     consultations.c.channel.label("channel"), _known(cases.c.client_kind, "client_kind"),
     _known(cases.c.age_group, "age_group")),
    where=consultations.c.voided_at.is_(None))
outreach_visit_counts = _tally("rp_outreach_visit_counts", outreach_visits, "centre_id", "staff_role", into=UNKEPT)
referral_counts = _tally("rp_referral_counts", referrals, "centre_id", "agency_category")
support_decision_counts = _tally("rp_support_decision_counts", support_decisions, "centre_id")
dispatch_event_counts = Tally(
    _table("rp_dispatch_event_counts", dispatch_events.c.tenant, dispatch_events.c.kind,
           Column("reason", String(40))),
    dispatch_events, dispatch_events,
    (dispatch_events.c.fy.label("fy"), dispatch_events.c.tenant.label("tenant"),
     dispatch_events.c.kind.label("kind"), func.coalesce(dispatch_events.c.reason, "").label("reason")))
activity_counts = _tally("rp_activity_counts", activities, "tenant", "activity_type")
deployment_activity_counts = _tally("rp_deployment_activity_counts", deployment_activities, "tenant", "target_kind")
supporter_term_counts = _tally("rp_supporter_term_counts", supporter_terms, "tenant", "kind")
supporter_ending_counts = _tally("rp_supporter_ending_counts", supporter_endings, "tenant", "reason")
roster_counts = _tally("rp_roster_counts", rosters, "tenant", sums=("entries",))
place_session_counts = _tally("rp_place_session_counts", place_sessions, "tenant", "place_id",
                              sums=("participants", "supporters"))
group_activity_counts = _tally("rp_group_activity_counts", group_activities, "tenant", "kind")
backoffice_support_counts = _tally("rp_backoffice_support_counts", backoffice_supports, "tenant", "kind")
prefectural_backup_counts = _tally("rp_prefectural_backup_counts", prefectural_backups, "tenant", "municipality",
                                   "kind", sums=("staff_days",))


@dataclass(frozen=True)
class Rollup:
    """A tally's national cells: its facts counted by fiscal year × `code` alone (`national`), and
    by fiscal year × the scope's `unit` (centre or tenant) alone (`units`). A national report reads
    the national cells less the cells of the units its caller may not see (the demo tenants, a
    centre not registered: a handful), so it costs the form's columns plus the units, not the
    product of the two that the tally's own cells fill up to (queries/common.rolled_up)."""

    tally: Tally
    code: str
    unit: str
    national: Tally
    units: Tally


def _rollup(tally: Tally, name: str, code: str, unit: str) -> Rollup:
    sums = tuple(s.name for s in tally.sums)
    return Rollup(tally, code, unit, _tally(f"rp_{name}_national_counts", tally.facts, code, sums=sums),
                  _tally(f"rp_{name}_{unit}_counts", tally.facts, unit))


referral_rollup = _rollup(referral_counts, "referral", "agency_category", "centre_id")
group_activity_rollup = _rollup(group_activity_counts, "group_activity", "kind", "tenant")
backoffice_support_rollup = _rollup(backoffice_support_counts, "backoffice_support", "kind", "tenant")
place_session_rollup = _rollup(place_session_counts, "place_session", "place_id", "tenant")
ROLLUPS = (referral_rollup, group_activity_rollup, backoffice_support_rollup, place_session_rollup)


@dataclass(frozen=True)
class Pivot:
    """A tally's cells of fiscal year × `unit` × codes turned into one row per fiscal year × unit, with
    a column per known code of each of `codes`' dimensions (`wide`; its `n` counts every fact, one of
    a code no column names included). A report that returns a row per unit with a column per code, or
    the totals per code, reads one row per unit, not one per non-zero cell: the cells fill up to
    units × codes as the history grows, the rows stay the units (queries/common.unpivoted). A unit whose
    `n` exceeds its known columns of a dimension has that dimension's other codes read from its cells."""

    tally: Tally
    unit: str
    codes: dict[str, tuple[str, ...]]  # dimension (a key of the tally): its known codes
    wide: Tally
    fine_kept: bool = True  # the tally's own cells are kept too (else counted from the facts when needed)

    def column(self, dimension: str, code: str) -> str:
        return f"{dimension}_{code}"

    def columns(self, dimension: str) -> list[str]:
        return [self.column(dimension, code) for code in self.codes[dimension]]


def _pivot(tally: Tally, name: str, unit: str, codes: dict[str, tuple[str, ...]], *, fine_kept: bool = True) -> Pivot:
    key = {k.name: k.element for k in tally.keys}
    columns = tuple(case((key[d] == code, 1), else_=0).label(f"{d}_{code}") for d, known in codes.items()
                    for code in known)
    wide = Tally(_table(f"rp_{name}_{unit}_pivot", tally.table.c[unit], sums=tuple(c.name for c in columns)),
                 tally.facts, tally.source, (key["fy"].label("fy"), key[unit].label(unit)), columns, tally.where)
    return Pivot(tally, unit, codes, wide, fine_kept)


activity_pivot = _pivot(activity_counts, "activity", "tenant", {"activity_type": dispatch.ACTIVITY_TYPES})
deployment_activity_pivot = _pivot(deployment_activity_counts, "deployment_activity", "tenant",
                                   {"target_kind": dispatch.DEPLOYMENT_TARGETS})
supporter_term_pivot = _pivot(supporter_term_counts, "supporter_term", "tenant", {"kind": ("registered", "renewed")})
supporter_ending_pivot = _pivot(supporter_ending_counts, "supporter_ending", "tenant",
                                {"reason": ("withdrawn", "revoked", "expired")})
# 延べ相談件数: the report's per-centre totals and its three breakdowns from one row per centre. The
# pivot replaces the centre × channel × client kind × age group cells in the projection (one
# upsert per batch either way); those are counted from the facts when a code no column names appears.
consultation_pivot = _pivot(consultation_counts, "consultation", "centre_id", {
    "channel": intake.CHANNELS, "client_kind": (*intake.CLIENT_KINDS, UNKNOWN),
    "age_group": (*intake.AGE_GROUPS, UNKNOWN)}, fine_kept=False)
outreach_visit_pivot = _pivot(outreach_visit_counts, "outreach_visit", "centre_id",
                              {"staff_role": intake.STAFF_ROLES}, fine_kept=False)
dispatch_event_pivot = _pivot(dispatch_event_counts, "dispatch_event", "tenant",  # started; ended by reason
                              {"kind": ("started", "ended"), "reason": dispatch.END_REASONS})
PIVOTS = (activity_pivot, deployment_activity_pivot, supporter_term_pivot, supporter_ending_pivot,
          consultation_pivot, outreach_visit_pivot, dispatch_event_pivot)

TALLIES: tuple[Tally, ...] = (  # consultations and visits: their pivots alone (fine_kept=False)
    referral_counts, support_decision_counts, dispatch_event_counts,
    activity_counts, deployment_activity_counts, supporter_term_counts, supporter_ending_counts, roster_counts,
    place_session_counts, group_activity_counts, backoffice_support_counts, prefectural_backup_counts,
    *(t for r in ROLLUPS for t in (r.national, r.units)), *(p.wide for p in PIVOTS))
OF: dict[Table, Tally] = {t.facts: t for t in reversed(TALLIES)}  # the finest tally of each fact table that has one
KEPT: dict[Table, tuple[Tally, ...]] = {f: tuple(t for t in TALLIES if t.facts is f) for f in OF}  # every tally of it


def record(conn: Connection, facts: Table, row: dict) -> None:
    """Insert a fact row and count it in its tallies (inside a batch: one statement per table and
    one upsert per tally for the whole batch, readmodels/batch.py)."""
    insert_row(conn, facts, row)
    for tally in KEPT.get(facts, ()):
        then(conn, tally.table, tally.add_facts, row["event_id"])


def retally(conn: Connection, facts: Table, *where: ColumnElement[bool], sign: int = 1) -> None:
    """Move the tallies of `facts` by the rows matching `where` (sign -1: before they stop counting)."""
    for tally in KEPT.get(facts, ()):
        tally.add(conn, *where, sign=sign)


class Derivable(Protocol):
    """A count table the projection keeps and can count again from the facts."""

    @property
    def table(self) -> Table: ...

    def derive(self, conn: Connection) -> None: ...


# Every count table the projection keeps: the tallies and 年度末登録者数 (projections/registered.py).
COUNTED: tuple[Derivable, ...] = (*TALLIES, registered_counts)


def derive_all(conn: Connection, tallies: Iterable[Derivable] = COUNTED) -> None:
    for tally in tallies:
        tally.derive(conn)
