"""PII sealing: values encrypted per data subject (envelope encryption, AES-256-GCM).

Each data subject (a pseudonymous id, e.g. a case id) has its own data key, stored wrapped by
the service's master key in the service's own database. Events carry only sealed values.
`forget(subject)` destroys the data key ("crypto-shredding"): every sealed value of that
subject then reads as erased, while the events themselves stay intact and verifiable.

Erasure must also hold in the copies a database keeps or makes: SQLite's WAL and freed pages,
PostgreSQL's dead tuples and WAL archives, backups. On SQLite the key row is overwritten in place
(secure_delete) and the WAL truncated after each erasure. Everywhere, the master key is rotated
(issue 14): the service starts with a new `<SERVICE>_MASTER_KEY` and the old one in
`<SERVICE>_PREVIOUS_MASTER_KEYS`; `rewrap` (a job of the service, and `tsunagu keys rewrap`)
re-wraps every live key under the new master, each row naming the master that wraps it; once
none is left under the old one, the operator destroys it. Every old copy of an erased subject's
key — in a backup, a WAL archive, a dead tuple — is then wrapped by a key nobody holds.
"""


from __future__ import annotations

import base64
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, overload

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from libs.platform.privacy.keystore import (
    ERASED_AFTER,
    KEYS_OF,
    KEYS_PER_SELECT,
    add_master_column,
    key_erasures,
    master_id,
    metadata,
    subject_keys,
)
from libs.platform.privacy.rotation import KeyHygiene
from libs.platform.privacy.sealed_values import ERASED, SubjectForgotten, SubjectKeys, is_sealed, seal_with
from libs.platform.store.bulk import insert_rows
from libs.platform.store.db import read_unpinged

log = logging.getLogger(__name__)
# Subject keys a replica keeps unwrapped in memory (LRU). 2,000, not 10,000: where every command
# makes a data subject (a dispatch request, a trainee), a 10,000-entry cache fills only after
# 10,000 commands and then churns, and pymalloc's arenas fragment while it does: dispatch's RSS
# after 100,000 commands was 1.279x that after 1,000, and 1.168x with 2,000 (intake 1.19 -> 1.14;
# bench/README.md "memory"). A miss costs one indexed read of the subject's wrapped key.
KEY_CACHE_SIZE = 2_000


class Sealer(KeyHygiene):
    def __init__(self, engine: Engine, master_key: bytes, previous: tuple[bytes, ...] = ()) -> None:
        for key in (master_key, *previous):
            if len(key) != 32:
                raise ValueError("a master key must be 32 bytes (AES-256)")
        self._engine = engine
        self.current = master_id(master_key)
        # Every master this service holds, the current first: rows wrapped by a previous one
        # are read with it until `rewrap` moves them to the current one.
        self._masters = {master_id(k): AESGCM(k) for k in (master_key, *previous)}
        self._master = self._masters[self.current]
        metadata.create_all(engine)
        add_master_column(engine)
        for index in key_erasures.indexes:  # tables made before the index: made at start, once
            index.create(engine, checkfirst=True)
        # Unwrapped keys of live subjects, valid as of erasure-log position `_valid_to`. A lookup
        # of a key costs a transaction per value sealed or opened; checking the erasure log since
        # `_valid_to` is one autocommit select, and drops every key forgotten since, in any replica.
        self._keys: OrderedDict[str, bytes] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._drops = 0  # erasures seen by this cache: a lookup racing one is not cached
        with self._engine.connect() as conn:
            self._valid_to = conn.execute(select(func.coalesce(func.max(key_erasures.c.position), 0))).scalar_one()

    def seal(self, subject: str, value: Any) -> dict[str, str]:
        """Encrypt a JSON-serialisable value for one data subject."""
        return seal_with(self._data_key(str(subject), create=True), str(subject), value)

    def check(self, keys: SubjectKeys) -> None:
        """SubjectKeys.check on a connection of the sealer's own (a store without transactions
        of its own to run it in: the in-memory one of unit tests)."""
        with self._engine.connect() as conn:
            keys.check(conn)

    def keys(self, subjects: Iterable[str]) -> SubjectKeys:
        """The data keys of many subjects (made for those that have none), for sealing many values
        at once (a bulk import): one look at the erasure log for them all, not one per value, and
        the keys not cached read in one statement and made in one transaction. A subject forgotten
        has no key (SubjectKeys.seal refuses it). An erasure committed after this look is caught
        by the save that stores the sealed values (`SubjectKeys.check`, in its transaction)."""
        wanted = list(dict.fromkeys(str(s) for s in subjects))
        found: dict[str, bytes | None] = {}

        def look(conn: Connection) -> tuple[int, int, list[str]]:
            """Reads only, run again whole on a new connection if this one was dead (read_unpinged:
            no ping's round trip first, in autocommit: no COMMIT/ROLLBACK round trip)."""
            found.clear()
            self._drop_erased(conn.execute(ERASED_AFTER, {"after": self._valid_to}).all())
            with self._cache_lock:
                valid_to, drops = self._valid_to, self._drops
                for subject in wanted:
                    if (cached := self._keys.get(subject)) is not None:
                        self._keys.move_to_end(subject)
                        found[subject] = cached
            missing = [s for s in wanted if s not in found]
            self._read_keys(conn, missing, found)
            return valid_to, drops, missing

        valid_to, drops, missing = read_unpinged(self._engine, look)
        if new := [s for s in missing if s not in found]:
            # In one order for every replica: two imports making the same new keys, listed in
            # opposite orders, each took a row the other then waited for, and PostgreSQL failed
            # one of them as a deadlock (not the IntegrityError below). Sorted, the second waits
            # for the first and falls back on the keys it made.
            made = {s: AESGCM.generate_key(bit_length=256) for s in sorted(new)}
            now = datetime.now(UTC)
            try:
                with self._engine.begin() as conn:
                    insert_rows(conn, subject_keys, [
                        {"subject": s, "wrapped_key": self._wrap(s, k), "created_at": now, "master": self.current}
                        for s, k in made.items()])
                found.update(made)
            except IntegrityError:  # some were made (or forgotten) meanwhile: read them, make the rest
                with self._engine.connect() as conn:
                    self._read_keys(conn, new, found)
                for s in new:
                    if s not in found:
                        found[s] = self._stored_key_or_none(s)
        with self._cache_lock:
            if drops == self._drops:  # as in _data_key: an erasure racing the lookup is not cached
                for subject in missing:
                    if (key := found[subject]) is not None:
                        self._keys[subject] = key
                while len(self._keys) > KEY_CACHE_SIZE:
                    self._keys.popitem(last=False)
        return SubjectKeys(found, valid_to)

    def cached_keys(self, subjects: Iterable[str]) -> SubjectKeys:
        """The data keys of these subjects as this replica's cache holds them, without a look at the
        erasure log (no round trip) when it holds them all; else `keys` (one look). For a command
        whose save passes them on (store/creations.SEALED_KWARG): the save's own check of the
        erasure log, in its transaction, refuses it when one of these subjects was forgotten after
        the cache's position, in any replica, so no look is needed before it. A command refused so
        runs again with `keys`, which drops the forgotten key and refuses the subject."""
        wanted = list(dict.fromkeys(str(s) for s in subjects))
        with self._cache_lock:
            # The keys and the position read together: each key was live as of that position.
            found = {s: key for s in wanted if (key := self._keys.get(s)) is not None}
            if len(found) == len(wanted):
                for subject in wanted:
                    self._keys.move_to_end(subject)
                return SubjectKeys(dict(found), self._valid_to)
        return self.keys(wanted)

    def _read_keys(self, conn: Connection, subjects: list[str], found: dict[str, bytes | None]) -> None:
        """The stored keys of these subjects into `found` (None: forgotten); those with no row left out."""
        for chunk in range(0, len(subjects), KEYS_PER_SELECT):
            for row in conn.execute(KEYS_OF, {"subjects": subjects[chunk:chunk + KEYS_PER_SELECT]}):
                found[row.subject] = None if row.wrapped_key is None else \
                    self._unwrap(row.subject, row.wrapped_key, row.master)

    def _stored_key_or_none(self, subject: str) -> bytes | None:
        try:
            return self._stored_key(subject, create=True)
        except SubjectForgotten:
            return None

    def open(self, sealed: dict[str, str] | None) -> Any:
        """The plaintext value, or ERASED when the subject's key was destroyed."""
        if sealed is None:
            return None
        if not is_sealed(sealed):
            raise ValueError("not a sealed value")
        key = self._data_key(sealed["kid"], create=False)
        if key is None:
            return ERASED
        plaintext = AESGCM(key).decrypt(
            base64.b64decode(sealed["iv"]), base64.b64decode(sealed["ct"]), sealed["kid"].encode()
        )
        return json.loads(plaintext)

    def forget(self, subject: str) -> None:
        """Destroy the subject's data key; idempotent. A subject with no key yet is recorded
        as forgotten too, so nothing can be sealed for it afterwards."""
        now = datetime.now(UTC)
        try:
            with self._engine.begin() as conn:
                # Positions commit in the order they are taken; and it waits for every save whose
                # erasure check holds the table's ROW SHARE lock (SubjectKeys: FOR SHARE) to end.
                # So never call this inside a save's transaction: it would wait for itself.
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"LOCK TABLE {key_erasures.name} IN EXCLUSIVE MODE")
                conn.execute(key_erasures.insert().values(subject=str(subject)))
                updated = conn.execute(
                    subject_keys.update()
                    .where(subject_keys.c.subject == str(subject))
                    .values(wrapped_key=None, forgotten_at=now)
                ).rowcount
                if not updated:
                    conn.execute(
                        subject_keys.insert().values(
                            subject=str(subject), wrapped_key=None, created_at=now,
                            forgotten_at=now,
                        )
                    )
        except IntegrityError:  # a key was made meanwhile: destroy that one
            self.forget(subject)
            return
        finally:
            with self._cache_lock:
                self._keys.pop(str(subject), None)
                self._drops += 1
        self._scrub()

    @overload
    def _data_key(self, subject: str, *, create: Literal[True]) -> bytes: ...
    @overload
    def _data_key(self, subject: str, *, create: bool) -> bytes | None: ...

    def _data_key(self, subject: str, *, create: bool) -> bytes | None:
        self._fresh()  # before the lookup: a key forgotten after this check is dropped by the next
        with self._cache_lock:
            if (cached := self._keys.get(subject)) is not None:
                self._keys.move_to_end(subject)
                return cached
            drops = self._drops
        key = self._stored_key(subject, create=create)
        with self._cache_lock:
            # Not cached when any key was dropped meanwhile: that erasure may be this subject's,
            # committed after the lookup read the row, and already passed by the cache's position.
            if key is not None and drops == self._drops:
                self._keys[subject] = key
                while len(self._keys) > KEY_CACHE_SIZE:
                    self._keys.popitem(last=False)
        return key

    def _fresh(self) -> None:
        """Drop the cached keys of subjects forgotten (by any replica) since the cache's position."""
        # One statement in autocommit (no COMMIT/ROLLBACK round trip), and no ping before it.
        self._drop_erased(read_unpinged(self._engine, lambda conn: conn.execute(
            ERASED_AFTER, {"after": self._valid_to}).all()))

    def _drop_erased(self, rows: Sequence[Any]) -> None:
        if not rows:
            return
        with self._cache_lock:
            for _, subject in rows:
                self._keys.pop(subject, None)
            self._drops += 1
            self._valid_to = max(self._valid_to, rows[-1].position)

    @overload
    def _stored_key(self, subject: str, *, create: Literal[True]) -> bytes: ...
    @overload
    def _stored_key(self, subject: str, *, create: bool) -> bytes | None: ...

    def _stored_key(self, subject: str, *, create: bool) -> bytes | None:
        with self._engine.connect() as conn:  # a read: on SQLite it waits for no writer (sqlite_begin.py)
            row = conn.execute(
                select(subject_keys.c.wrapped_key, subject_keys.c.forgotten_at, subject_keys.c.master).where(
                    subject_keys.c.subject == subject
                )
            ).first()
        if row is not None:
            if row.wrapped_key is None:
                if create:
                    raise SubjectForgotten(f"subject {subject} was erased")
                return None
            return self._unwrap(subject, row.wrapped_key, row.master)
        if not create:
            return None
        key = AESGCM.generate_key(bit_length=256)
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    subject_keys.insert().values(
                        subject=subject,
                        wrapped_key=self._wrap(subject, key),
                        created_at=datetime.now(UTC),
                        master=self.current,
                    )
                )
        except IntegrityError:  # another request made it first: use theirs
            return self._stored_key(subject, create=create)
        return key
