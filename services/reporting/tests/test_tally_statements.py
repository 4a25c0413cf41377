"""A fact's tally upsert is compiled once, not for every fact (issue 15: SQLAlchemy caches no
INSERT … ON CONFLICT, so the reporting consumer compiled one for every consultation it applied,
on the path of each event's end-to-end lag); the cells it moves are those the facts give."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.sql.compiler import SQLCompiler

from services.reporting.projections.tables import consultations
from services.reporting.projections.tallies import OF
from services.reporting.tests.conftest import TOKYO


def test_recording_facts_compiles_no_upsert_after_the_first(feed, engine, monkeypatch):
    case = feed.case(feed.centre(TOKYO))
    feed.consultation(case, "2016-05-01T10:00:00+09:00")  # the first may compile it
    compiled: list[str] = []
    visit_insert = SQLCompiler.visit_insert

    def counted(compiler, insert_stmt, *args, **kwargs):
        if insert_stmt._post_values_clause is not None:  # ON CONFLICT …
            compiled.append(insert_stmt.table.name)
        return visit_insert(compiler, insert_stmt, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "visit_insert", counted)
    for day in ("2016-05-02", "2016-05-03", "2017-06-01"):
        feed.consultation(case, f"{day}T10:00:00+09:00", channel="visit")
    monkeypatch.undo()
    assert compiled == []
    tally = OF[consultations]
    with engine.connect() as conn:
        cells = {tuple(r): r.n for r in conn.execute(select(*(tally.table.c[c] for c in tally.columns)))}
        derived = {tuple(r): r.n for r in conn.execute(tally.cells())}
    assert cells == derived and sum(cells.values()) == 4
