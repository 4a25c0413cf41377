"""Sealed values: a value encrypted (AES-256-GCM) with its data subject's key, and the keys a
command sealed with, which its save checks against the erasure log (store/creations.SEALED_KWARG).
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from libs.domain.errors import DomainError
from libs.platform.privacy.keystore import KEYS_PER_SELECT, erased_among_held, erased_among_held_literal
from libs.platform.store.bulk import strings
from libs.platform.store.driver_sql import run_select

ALG = "A256GCM"
ERASED = "[erased]"
# Subjects a save's check names as literals (SubjectKeys.inline_check): ids, nothing to escape.
PLAIN_SUBJECT = re.compile(r"[0-9A-Za-z_.:-]{1,64}")
INLINE_SUBJECTS = 50


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and value.get("alg") == ALG and "ct" in value


def seal_with(key: bytes, subject: str, value: Any) -> dict[str, str]:
    return _seal(AESGCM(key), subject, value)


def _seal(cipher: AESGCM, subject: str, value: Any) -> dict[str, str]:
    iv = os.urandom(12)
    ct = cipher.encrypt(iv, _json(value), subject.encode())
    return {"alg": ALG, "kid": subject, "iv": _b64(iv), "ct": _b64(ct)}


def _json(value: Any) -> bytes:
    """json.dumps(value, ensure_ascii=False) in UTF-8; a string (a summary, a name) by orjson, which
    writes one byte for byte the same, faster (one per item of an import, issue 15)."""
    if type(value) is str:
        try:
            return orjson.dumps(value)
        except orjson.JSONEncodeError:
            pass  # a lone surrogate: the json module's error, as before
    return json.dumps(value, ensure_ascii=False).encode()


@dataclass(frozen=True)
class SubjectKeys:
    """Keys of several subjects (Sealer.keys), valid as of erasure-log position `valid_to`. The
    save that stores what they sealed passes them on (store/creations.SEALED_KWARG): in its
    transaction, `check` refuses the save when one of these subjects was forgotten since, in any
    replica, so an erasure that came between the look and the save is honoured as when each value
    was sealed after a look of its own. The check runs after the save's own lock (the events'
    LOCK TABLE on PostgreSQL, SQLite's write lock), so it sees every erasure committed while the
    save waited for it; and on PostgreSQL it holds the erasure log's ROW SHARE lock to the save's
    end, which `forget` waits for: an erasure either commits before the check, which sees it, or
    after the save, whose values are then sealed under a key that no longer exists, as any
    value stored before an erasure is."""

    keys: dict[str, bytes | None]  # None: the subject was forgotten
    valid_to: int
    # Each subject's cipher, made at its first seal: an import seals ten values or so per subject,
    # and making the cipher was a third of a seal (issue 15).
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, init=False, repr=False, compare=False)

    def seal(self, subject: Any, value: Any) -> dict[str, str]:
        subject = subject if type(subject) is str else str(subject)
        if (cipher := self._ciphers.get(subject)) is None:
            if (key := self.keys[subject]) is None:
                raise SubjectForgotten(f"subject {subject} was erased")
            cipher = self._ciphers[subject] = AESGCM(key)
        return _seal(cipher, subject, value)

    def inline_check(self) -> str | None:
        """`check` as one statement of literals (None: nothing to check, or subjects not all of the
        plain shape ids have, or too many): sent in the same round trip as another, after it (the
        events' LOCK TABLE on PostgreSQL: store/core_inserts.py), a row from it names a forgotten subject.
        FOR SHARE: the erasure log's ROW SHARE lock, held to the save's end (keystore.erased_among_held)."""
        subjects = [s for s, key in self.keys.items() if key is not None]
        if not subjects or len(subjects) > INLINE_SUBJECTS or not all(PLAIN_SUBJECT.fullmatch(s) for s in subjects):
            return None
        return erased_among_held_literal(self.valid_to, subjects)  # safe: PLAIN_SUBJECT has no quote or backslash

    def check(self, conn: Connection | Session) -> None:
        subjects = [s for s, key in self.keys.items() if key is not None]
        dialect = conn.get_bind().dialect if isinstance(conn, Session) else conn.dialect
        for chunk in range(0, len(subjects), KEYS_PER_SELECT):
            named = strings(subjects[chunk:chunk + KEYS_PER_SELECT], dialect)
            # One statement whatever the count (the subjects one parameter), on SQLite the driver's
            # SQL compiled once (store/driver_sql.py): every save checks.
            erased = run_select(conn, "erased_among_held", lambda: erased_among_held(dialect),
                                {"after": self.valid_to, "subjects": named})
            if erased:
                raise SubjectForgotten(f"subject {erased[0][0]} was erased")


class SubjectForgotten(DomainError):
    """No new data may be sealed for a subject whose key was destroyed."""

    problem = "subject-erased"
    title = "The data subject was erased"
    status = 410

