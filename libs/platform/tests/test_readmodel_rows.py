"""A read model's INSERT and UPDATE are built once per table and columns, not per event (issue 15:
`table.insert().values(row)` built anew cost ~150 µs of SQLAlchemy's coercion and cache-key work
per event); inside a batch (`held`), inserts wait and any other statement writes them first."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, event, select

from libs.platform.readmodels import batch
from libs.platform.readmodels.batch import held, insert_row, update_rows

metadata = MetaData()
things = Table("rm_things", metadata, Column("id", String(8), primary_key=True),
               Column("state", String(8), nullable=False), Column("n", Integer))


def test_an_update_is_built_once_per_shape_and_sets_what_it_is_given(tmp_path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'rm.db'}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        for k in range(3):
            insert_row(conn, things, {"id": f"t{k}", "state": "new", "n": k})
        update_rows(conn, things, {"id": "t0"}, {"state": "done", "n": None})
        built = {key: statement for key, statement in batch._UPDATES.items() if key[0] is things}
        update_rows(conn, things, {"id": "t1"}, {"state": "done", "n": None})
        update_rows(conn, things, {"id": "t2", "state": "nope"}, {"state": "done", "n": 9})  # matches nothing
        rows = {r.id: (r.state, r.n) for r in conn.execute(select(things))}
    assert rows == {"t0": ("done", None), "t1": ("done", None), "t2": ("new", 2)}
    assert len(built) == 1 and all(batch._UPDATES[key] is statement for key, statement in built.items())


def test_held_inserts_are_written_before_any_other_statement_and_at_the_end(tmp_path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'rm.db'}")
    metadata.create_all(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda conn, cursor, sql, *args: statements.append(sql.split()[0]))
    with engine.begin() as conn, held(conn):
        for k in range(4):
            insert_row(conn, things, {"id": f"t{k}", "state": "new", "n": k})
        assert statements == []  # held
        update_rows(conn, things, {"id": "t1"}, {"state": "done", "n": 1})  # writes the four first
        assert statements == ["INSERT", "UPDATE"]
        insert_row(conn, things, {"id": "t4", "state": "new", "n": 4})
        seen = conn.execute(select(things.c.id).order_by(things.c.id)).scalars().all()
    assert seen == ["t0", "t1", "t2", "t3", "t4"]
    assert statements == ["INSERT", "UPDATE", "INSERT", "SELECT"]
