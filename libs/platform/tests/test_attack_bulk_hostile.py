"""Attack (issue 15 merge): hostile values in every column of a bulk insert (store/bulk.py) meet
the same fate as in the ordinary statement — stored byte for byte, or refused with nothing stored;
never changed on the way (an explicit CAST to varchar(n)[] truncates where an INSERT refuses)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from libs.platform.store.bulk import BULK_ROWS, insert_rows
from libs.platform.tests.test_bulk_insert import engine, things  # noqa: F401 - the fixture

HOSTILE: dict[str, dict[str, Any]] = {
    "overlong name": {"name": "n" * 41},
    "overlong note": {"note": "三" * 21},
    "note of trailing spaces": {"note": "x" * 20 + "   "},
    "NUL in name": {"name": "a\x00b"},
    "lone surrogate": {"note": "\ud800"},
    "astral and combining": {"name": "𠮷👨‍👩‍👧e\u0301\u202e", "note": "\U0010ffff"},
    "every byte": {"body": bytes(range(256)) * 4},
    "large body": {"body": b"\x00\xff" * 500_000},
    "empty body": {"body": b""},
}


def _outcome(engine, rows: list[dict[str, Any]]) -> Any:  # noqa: F811 - the fixture's engine
    try:
        with engine.begin() as conn:
            insert_rows(conn, things, rows)
    except (SQLAlchemyError, ValueError, UnicodeError) as e:
        with engine.connect() as conn:
            assert conn.execute(select(things.c.name)).all() == [], "a refused insert stored rows"
        return "refused", type(e).__name__
    with engine.begin() as conn:
        stored = conn.execute(select(things.c.name, things.c.body, things.c.note).order_by(things.c.id)).all()
        conn.execute(things.delete())
    return [tuple(r) for r in stored]


@pytest.mark.parametrize("hostile", list(HOSTILE), ids=list(HOSTILE))
def test_a_hostile_value_fares_the_same_among_many_rows_as_alone(engine, hostile: str) -> None:  # noqa: F811
    row = {"name": "hostile", "body": b"b", "note": None, **HOSTILE[hostile]}
    alone = _outcome(engine, [row])
    others = [{"name": f"ok{k}", "body": b"b", "note": None} for k in range(BULK_ROWS)]
    among_many = _outcome(engine, [*others, row])
    if alone[0] == "refused":
        assert among_many[0] == "refused", f"{hostile}: refused alone, stored among many as {among_many[-1]!r:.200}"
    else:
        if hostile != "note of trailing spaces":  # PostgreSQL drops spaces past varchar(n), alone too
            assert alone == [(row["name"], row["body"], row["note"])], hostile
        assert among_many == [*[(o["name"], o["body"], o["note"]) for o in others], *alone], hostile
