"""The subject keys' tables and the erasure log, and the statements the sealing reads them with.

`subject_keys` holds each data subject's data key, wrapped by a master key (privacy/sealing.py);
`subject_key_erasures` records every `forget`, in every replica, in the order they committed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    DateTime,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    exists,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from libs.platform.store.bulk import one_of

metadata = MetaData()
subject_keys = Table(
    "subject_keys",
    metadata,
    Column("subject", String(64), primary_key=True),
    Column("wrapped_key", LargeBinary, nullable=True),  # NULL once forgotten
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("forgotten_at", DateTime(timezone=True), nullable=True),
    # The master key that wraps wrapped_key (master_id of it); NULL in rows older than rotation.
    Column("master", String(16), nullable=True),
)

# Every forget(), in every replica, in the order they committed: a replica's key cache drops what
# was forgotten after the position it is valid to (Sealer._fresh). Inserted under a table lock on
# PostgreSQL, so positions commit in order and a reader never passes one that commits later.
key_erasures = Table(
    "subject_key_erasures",
    metadata,
    Column("position", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("subject", String(64), nullable=False),
    # A save's check names its subjects after the cache's position: found by subject, not by
    # scanning every erasure since (a replica whose cache has not looked since a mass retention run).
    Index("ix_subject_key_erasures_subject", "subject", "position"),
)
ERASED_AFTER = select(key_erasures.c.position, key_erasures.c.subject).where(
    key_erasures.c.position > bindparam("after")).order_by(key_erasures.c.position)
KEYS_OF = select(subject_keys.c.subject, subject_keys.c.wrapped_key, subject_keys.c.master).where(
    subject_keys.c.subject.in_(bindparam("subjects", expanding=True)))


def erased_among_held(dialect: Dialect) -> Any:
    """A save's check (SubjectKeys.check): the first of the subjects bound as `subjects`
    (store/bulk.strings) erased after position `after`. FOR SHARE takes the table's ROW SHARE lock,
    which `forget`'s EXCLUSIVE lock waits for, so no erasure commits between the check and the
    save's commit (the save, checked, comes first; one committed before the check is seen). No row
    is locked unless found. The subjects are one parameter (store/bulk.one_of), not an expanding IN:
    compiled once per dialect, where an IN of 50 subjects was rendered again at every save checking
    them (an import's: 3% of its time, issue 15)."""
    statement = _erased_among_held.get(dialect.name)
    if statement is None:
        statement = _erased_among_held[dialect.name] = select(key_erasures.c.subject).where(
            key_erasures.c.position > bindparam("after"),
            one_of(key_erasures.c.subject, "subjects", dialect)).with_for_update(read=True)
    return statement


_erased_among_held: dict[str, Any] = {}


def erased_among_held_literal(after: int, subjects: Sequence[str]) -> str:
    """`erased_among_held` on PostgreSQL with its parameters written in as literals, for a save
    that sends it in one round trip with another statement (SubjectKeys.inline_check). Only for
    subjects with nothing to escape (the caller checks their shape): the same statement, one
    spelling of the check."""
    global _erased_among_literal
    if _erased_among_literal is None:
        dialect = postgresql.psycopg.dialect()
        _erased_among_literal = erased_among_held(dialect).compile(dialect=dialect).string
    named = ", ".join(f"'{s}'" for s in subjects)
    return _erased_among_literal % {"after": int(after), "subjects": f"ARRAY[{named}]"}


_erased_among_literal: str | None = None
KEYS_PER_SELECT = 500  # subjects named in one statement (well under SQLite's bound parameters)


def master_id(master_key: bytes) -> str:
    """A name of a master key that does not reveal it (shown by `tsunagu keys status`)."""
    return hashlib.sha256(b"tsunagu master key\0" + master_key).hexdigest()[:16]


def add_master_column(engine: Engine) -> None:
    """Tables made before rotation existed get the column (NULL: tried with every master held)."""
    columns = {c["name"] for c in inspect(engine).get_columns("subject_keys")}
    if "master" not in columns:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE subject_keys ADD COLUMN master VARCHAR(16)"))



def key_still_held(subject: ColumnElement) -> ColumnElement[bool]:
    """SQL condition on a read model in the sealer's database: the subject named by that column
    still has a live key (e.g. an erasure recorded before a crash, whose key was not yet forgotten)."""
    return exists().where(subject_keys.c.subject == subject, subject_keys.c.wrapped_key.is_not(None))



class MasterKeyMissing(RuntimeError):
    """A subject key is wrapped by a master key this service was not given (a rotation half done)."""

