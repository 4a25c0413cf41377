"""PII sealing: values encrypted per data subject (envelope encryption, AES-256-GCM).

Each data subject (a pseudonymous id, e.g. a case id) has its own data key, stored wrapped by
the service's master key in the service's own database. Events carry only sealed values.
`forget(subject)` destroys the data key ("crypto-shredding"): every sealed value of that
subject then reads as erased, while the events themselves stay intact and verifiable.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime, timezone
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Column,
    ColumnElement,
    DateTime,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    exists,
    select,
)
from sqlalchemy.exc import IntegrityError

from libs.domain.errors import DomainError

ALG = "A256GCM"
ERASED = "[erased]"

metadata = MetaData()
subject_keys = Table(
    "subject_keys",
    metadata,
    Column("subject", String(64), primary_key=True),
    Column("wrapped_key", LargeBinary, nullable=True),  # NULL once forgotten
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("forgotten_at", DateTime(timezone=True), nullable=True),
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and value.get("alg") == ALG and "ct" in value


class Sealer:
    def __init__(self, engine: Engine, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes (AES-256)")
        self._engine = engine
        self._master = AESGCM(master_key)
        metadata.create_all(engine)

    def seal(self, subject: str, value: Any) -> dict[str, str]:
        """Encrypt a JSON-serialisable value for one data subject."""
        key = self._data_key(str(subject), create=True)
        iv = os.urandom(12)
        plaintext = json.dumps(value, ensure_ascii=False).encode()
        ct = AESGCM(key).encrypt(iv, plaintext, str(subject).encode())
        return {"alg": ALG, "kid": str(subject), "iv": _b64(iv), "ct": _b64(ct)}

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
        now = datetime.now(timezone.utc)
        try:
            with self._engine.begin() as conn:
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

    def _data_key(self, subject: str, *, create: bool) -> bytes | None:
        with self._engine.begin() as conn:
            row = conn.execute(
                select(subject_keys.c.wrapped_key, subject_keys.c.forgotten_at).where(
                    subject_keys.c.subject == subject
                )
            ).first()
        if row is not None:
            if row.wrapped_key is None:
                if create:
                    raise SubjectForgotten(f"subject {subject} was erased")
                return None
            return self._unwrap(subject, row.wrapped_key)
        if not create:
            return None
        key = AESGCM.generate_key(bit_length=256)
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    subject_keys.insert().values(
                        subject=subject,
                        wrapped_key=self._wrap(subject, key),
                        created_at=datetime.now(timezone.utc),
                    )
                )
        except IntegrityError:  # another request made it first: use theirs
            return self._data_key(subject, create=create)
        return key

    def _wrap(self, subject: str, key: bytes) -> bytes:
        iv = os.urandom(12)
        return iv + self._master.encrypt(iv, key, subject.encode())

    def _unwrap(self, subject: str, wrapped: bytes) -> bytes:
        return self._master.decrypt(wrapped[:12], wrapped[12:], subject.encode())


def key_still_held(subject: ColumnElement) -> ColumnElement[bool]:
    """SQL condition on a read model in the sealer's database: the subject named by that column
    still has a live key (e.g. an erasure recorded before a crash, whose key was not yet forgotten)."""
    return exists().where(subject_keys.c.subject == subject, subject_keys.c.wrapped_key.is_not(None))


class SubjectForgotten(DomainError):
    """No new data may be sealed for a subject whose key was destroyed."""

    problem = "subject-erased"
    title = "The data subject was erased"
    status = 410
