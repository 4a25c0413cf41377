"""The subject keys' wrapping, rotation and storage hygiene (a part of `Sealer`,
privacy/sealing.py): a data key wrapped under the current master key and unwrapped by the one that
wrapped it, how many live keys each master wraps, re-wrapping them under the current master (issue
14), and on SQLite truncating the WAL after an erasure or a re-wrap, so no old copy of a key row
stays in it."""

from __future__ import annotations

import contextlib
import logging
import os
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, func, select

from libs.platform.privacy.keystore import MasterKeyMissing, subject_keys

log = logging.getLogger(__name__)
SCRUB_ATTEMPTS = 3
SCRUB_WAIT_MS = 1000
BUSY_TIMEOUT_MS = 30000  # as every SQLite connection of ours has it (libs/platform/store/db.py)


class KeyHygiene:
    _engine: Engine
    current: str  # the id of the master key new keys are wrapped under
    _master: AESGCM  # that key
    _masters: dict[str, AESGCM]  # every master key held, by id (the current one and the previous)

    def _wrap(self, subject: str, key: bytes) -> bytes:
        iv = os.urandom(12)
        return iv + self._master.encrypt(iv, key, subject.encode())

    def _unwrap(self, subject: str, wrapped: bytes, master: str | None) -> bytes:
        if master is None:  # wrapped before rows named their master: the ones held, in turn
            for candidate in self._masters.values():
                with contextlib.suppress(InvalidTag):
                    return candidate.decrypt(wrapped[:12], wrapped[12:], subject.encode())
            raise MasterKeyMissing("a subject key is wrapped by none of the master keys this service holds")
        if master not in self._masters:
            raise MasterKeyMissing(f"a subject key is wrapped by master {master}, which this service does not "
                                   "hold: start it with that key in <SERVICE>_PREVIOUS_MASTER_KEYS until rewrapped")
        return self._masters[master].decrypt(wrapped[:12], wrapped[12:], subject.encode())

    def keys_by_master(self) -> dict[str, int]:
        """How many live subject keys each master wraps (None: rows older than rotation)."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(subject_keys.c.master, func.count()).where(
                subject_keys.c.wrapped_key.is_not(None)).group_by(subject_keys.c.master)).all()
        return {str(master): count for master, count in rows}

    def rewrap(self, batch: int = 500) -> int:
        """Re-wrap up to `batch` live keys not under the current master; how many were. A row
        changed meanwhile (forgotten, or rewrapped by another replica) is left as it is."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(subject_keys.c.subject, subject_keys.c.wrapped_key, subject_keys.c.master).where(
                subject_keys.c.wrapped_key.is_not(None),
                (subject_keys.c.master != self.current) | subject_keys.c.master.is_(None)).limit(batch)).all()
        done = 0
        for subject, wrapped, master in rows:
            key = self._unwrap(subject, wrapped, master)
            with self._engine.begin() as conn:
                done += conn.execute(subject_keys.update().where(
                    subject_keys.c.subject == subject, subject_keys.c.wrapped_key == wrapped,
                ).values(wrapped_key=self._wrap(subject, key), master=self.current)).rowcount
        if done:
            self._scrub()
        return done

    def _scrub(self) -> None:
        """SQLite: copy the WAL into the database and truncate it, so no old copy of a key row
        stays in the WAL file (the row itself was overwritten in place: secure_delete, db.py).
        A reader holding an old snapshot blocks the truncation: each attempt waits at most a
        second (not the pool's 30 s busy timeout, which would hold up every writer behind it), a
        few attempts are made, and what is left is logged and done by the next scrub (the next
        erasure or rewrap)."""
        if self._engine.dialect.name != "sqlite":
            return
        for attempt in range(SCRUB_ATTEMPTS):
            # In autocommit: a checkpoint cannot run in a transaction that has read (store/sqlite_begin.py).
            with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={SCRUB_WAIT_MS}")
                try:
                    busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()[0]
                finally:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if not busy:
                return
            time.sleep(0.2 * (attempt + 1))
        log.warning("subject keys: the WAL could not be truncated (a long reader); an erased key may stay in it "
                    "until the next erasure or rewrap")

