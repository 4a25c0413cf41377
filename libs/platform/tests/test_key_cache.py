"""A replica keeps the subject keys it used in memory, and drops one as soon as any replica has
forgotten it (the subject_key_erasures log): a cached key never opens or seals after an erasure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import event

from libs.platform.privacy.sealed_values import ERASED, SubjectForgotten
from libs.platform.privacy.sealing import Sealer
from libs.platform.store.db import eventsourcing_env, make_engine
from services.intake.application import IntakeApplication
from services.intake.domain.case import Case
from tests.harness import Database

SUBJECT = "6f1c2a34-0000-4000-8000-00000000000a"


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[Any, Any, list[str]]]:
    """Two replicas of one service on one database (SQLite file or PostgreSQL schema), each with
    its own engine and the same master key, and the statements the first one ran."""
    database = Database(tmp_path)
    settings = database.settings("intake", "nats://127.0.0.1:1")
    engines = [make_engine(settings), make_engine(settings)]
    statements: list[str] = []
    event.listen(engines[0], "before_cursor_execute",
                 lambda _c, _cur, sql, *_: statements.append(sql))
    master = os.urandom(32)
    apps = [IntakeApplication(eventsourcing_env(settings), Sealer(engine, master)) for engine in engines]
    try:
        yield apps[0], apps[1], statements
    finally:
        for app in apps:
            app.close()
        for engine in engines:
            engine.dispose()
        database.drop()


def _key_lookups(statements: list[str]) -> int:
    return sum("FROM subject_keys" in sql for sql in statements)


def test_a_replica_seals_and_opens_with_its_cached_key_without_looking_it_up_again(replicas) -> None:
    first, _second, statements = replicas
    sealed = first.sealer.seal(SUBJECT, "相談内容")
    statements.clear()
    for _ in range(5):
        assert first.sealer.open(first.sealer.seal(SUBJECT, "相談内容")) == "相談内容"
    assert first.sealer.open(sealed) == "相談内容"
    assert _key_lookups(statements) == 0


def test_a_cached_key_neither_opens_nor_seals_once_another_replica_forgot_the_subject(replicas) -> None:
    first, second, _statements = replicas
    sealed = first.sealer.seal(SUBJECT, "山田 太郎")
    assert first.sealer.open(sealed) == "山田 太郎"  # cached now
    second.sealer.forget(SUBJECT)
    assert first.sealer.open(sealed) == ERASED
    with pytest.raises(SubjectForgotten):
        first.sealer.seal(SUBJECT, "新しい相談内容")


def test_a_cached_key_neither_opens_nor_seals_once_this_replica_forgot_the_subject(replicas) -> None:
    first, _second, _statements = replicas
    sealed = first.sealer.seal(SUBJECT, "山田 太郎")
    first.sealer.forget(SUBJECT)
    assert first.sealer.open(sealed) == ERASED
    with pytest.raises(SubjectForgotten):
        first.sealer.seal(SUBJECT, "新しい相談内容")


def test_a_case_erased_by_another_replica_reads_as_erased_in_the_replica_that_cached_its_key(replicas) -> None:
    first, second, _statements = replicas
    case_id = uuid4()
    first.save(Case.open(id=case_id, tenant="130001", centre_id=uuid4(), client_kind="person", age_group="adult",
                         personal_details=first.seal(case_id, {"name": "山田 太郎"})))
    details = first.repository.get(case_id).personal_details
    assert first.sealer.open(details) == {"name": "山田 太郎"}  # cached now
    case = second.repository.get(case_id)
    second.erase_personal_data(case, lambda c: c.erase(erased_on=date(2024, 6, 3), basis="request_granted"))
    assert first.sealer.open(details) == ERASED
    with pytest.raises(SubjectForgotten):
        first.seal(case_id, "新しい相談内容")
