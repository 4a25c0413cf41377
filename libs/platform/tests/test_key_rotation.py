"""Erasure that holds in the copies a database keeps (issue 14): no copy of an erased subject's
key left in the SQLite files, and after a master key rotation every old copy (a backup, a WAL
archive, a dead tuple) is wrapped by a key nobody holds any more."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, create_engine, select, text

from libs.platform.privacy.keystore import master_id, subject_keys
from libs.platform.privacy.sealed_values import ERASED
from libs.platform.privacy.sealing import Sealer
from libs.platform.store.db import sqlite_engine
from tests.harness import POSTGRES_URL, backend

A, B = "case-a-" + "0" * 29, "case-b-" + "0" * 29


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    if backend() == "postgresql":
        schema = f"t_keys_{uuid.uuid4().hex[:10]}"
        admin = create_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = create_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
        yield engine
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    else:
        engine = sqlite_engine(f"sqlite:///{tmp_path / 'service.db'}")
        yield engine
        engine.dispose()


def _wrapped(engine: Engine, subject: str) -> bytes | None:
    with engine.connect() as conn:
        return conn.execute(select(subject_keys.c.wrapped_key).where(subject_keys.c.subject == subject)).scalar()


def _rows(engine: Engine) -> list[tuple[str, bytes]]:
    """What a backup of the key table holds (pg_dump, a copy of the files)."""
    with engine.connect() as conn:
        return [(r.subject, r.wrapped_key) for r in conn.execute(select(subject_keys)) if r.wrapped_key]


def _opens(subject: str, wrapped: bytes, master: bytes) -> bool:
    try:
        AESGCM(master).decrypt(wrapped[:12], wrapped[12:], subject.encode())
    except InvalidTag:
        return False
    return True


@pytest.mark.skipif(backend() == "postgresql", reason="the files of a SQLite database")
def test_after_an_erasure_no_file_of_the_database_holds_the_subjects_wrapped_key(tmp_path, engine):
    sealer = Sealer(engine, os.urandom(32))
    for i in range(200):  # keys of others around it, on the same pages
        sealer.seal(f"other-{i:04d}", {"name": f"誰か{i}"})
    sealer.seal(A, {"name": "山田太郎"})
    sealer.seal(B, {"name": "佐藤花子"})
    key_a, key_b = _wrapped(engine, A), _wrapped(engine, B)
    files = sorted(p for p in tmp_path.iterdir() if p.name.startswith("service.db"))
    assert any(key_a in p.read_bytes() for p in files), "the key is in the files before the erasure"

    sealer.forget(A)

    holding = [p.name for p in tmp_path.iterdir() if p.name.startswith("service.db") and key_a in p.read_bytes()]
    assert holding == [], f"an erased subject's wrapped key is still in {holding}"
    assert any(key_b in p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("service.db"))


def test_after_a_rotation_an_old_backup_holds_no_key_that_a_held_master_opens(tmp_path, engine):
    old, new = os.urandom(32), os.urandom(32)
    sealer = Sealer(engine, old)
    sealed_a, sealed_b = sealer.seal(A, {"name": "山田太郎"}), sealer.seal(B, {"name": "佐藤花子"})
    backup = _rows(engine)  # last night's backup, taken before the erasure
    if backend() == "sqlite":
        shutil.copytree(tmp_path, tmp_path.parent / f"{tmp_path.name}-backup")
    sealer.forget(A)
    assert any(_opens(s, w, old) for s, w in backup if s == A), "with the old master, the backup still opens A"

    # Rotation: the service starts with the new master and holds the old one until every key moved.
    rotating = Sealer(engine, new, (old,))
    assert rotating.open(sealed_b) == {"name": "佐藤花子"}  # served throughout
    assert rotating.keys_by_master() == {master_id(old): 1}
    while rotating.rewrap(batch=1):
        pass
    assert rotating.keys_by_master() == {master_id(new): 1}

    # The old master is destroyed: what is held now is the new one alone.
    after = Sealer(engine, new)
    assert after.open(sealed_b) == {"name": "佐藤花子"} and after.open(sealed_a) == ERASED
    assert not [s for s, w in backup if _opens(s, w, new)], "no key of the old backup opens with a held master"
    if backend() == "sqlite":  # every 60-byte window of every old file: none opens A's key
        blobs = b"".join(p.read_bytes() for p in (tmp_path.parent / f"{tmp_path.name}-backup").iterdir())
        key_a = next(w for s, w in backup if s == A)
        assert key_a in blobs and not _opens(A, key_a, new)


def test_a_rotation_refuses_nothing_meanwhile_and_a_key_is_rewrapped_once(engine):
    old, new = os.urandom(32), os.urandom(32)
    Sealer(engine, old).seal(A, "x")
    first, second = Sealer(engine, new, (old,)), Sealer(engine, new, (old,))  # two replicas
    assert first.rewrap() + second.rewrap() == 1
    assert first.seal(B, "y") and second.open(first.seal(A, "z")) == "z"
    assert first.keys_by_master() == {master_id(new): 2}


@pytest.mark.skipif(backend() == "postgresql", reason="the laptop's var/ files")
def test_tsunagu_keys_rotate_on_a_laptop_replaces_the_key_file_and_rewraps(tmp_path, monkeypatch):
    import subprocess
    import sys

    from libs.platform.settings import Settings
    from libs.platform.store.db import make_engine

    env = {k: v for k, v in os.environ.items() if not k.endswith(("_MASTER_KEY", "DATABASE_URL"))}
    env |= {"TSUNAGU_VAR": str(tmp_path), "TSUNAGU_ENV": "dev"}
    for k in [k for k in os.environ if k.endswith(("_MASTER_KEY", "DATABASE_URL"))]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("TSUNAGU_VAR", str(tmp_path))
    monkeypatch.setenv("TSUNAGU_ENV", "dev")

    def sealer() -> Sealer:
        settings = Settings.from_env("intake")
        return Sealer(make_engine(settings), bytes.fromhex(settings.master_key_hex))

    sealed = sealer().seal(A, {"name": "山田太郎"})
    old_key = (tmp_path / "intake-master.key").read_text()
    out = subprocess.run([sys.executable, "-m", "libs.platform.tools.cli", "keys", "rotate", "--service", "intake"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "1 subject keys rewrapped" in out.stdout
    assert (tmp_path / "intake-master.key").read_text() != old_key
    assert old_key not in "".join(p.read_text(errors="ignore") for p in tmp_path.iterdir() if p.is_file())
    assert sealer().open(sealed) == {"name": "山田太郎"}
    status = subprocess.run([sys.executable, "-m", "libs.platform.tools.cli", "keys", "status", "--service", "intake"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert "none left under an older master" in status.stdout, status.stdout + status.stderr


@pytest.mark.skipif(backend() == "postgresql", reason="the laptop's var/ files")
def test_an_interrupted_laptop_rotation_loses_nothing_and_a_running_service_is_not_rotated(tmp_path, monkeypatch):
    import socket
    import subprocess
    import sys

    from libs.platform.settings import Settings
    from libs.platform.tools.keys import _sealer

    for k in [k for k in os.environ if k.endswith(("_MASTER_KEY", "DATABASE_URL", "_PREVIOUS_MASTER_KEYS"))]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("TSUNAGU_VAR", str(tmp_path))
    monkeypatch.setenv("TSUNAGU_ENV", "dev")
    sealed = _sealer(Settings.from_env("intake")).seal(A, {"name": "山田太郎"})
    old = (tmp_path / "intake-master.key").read_text()
    # Interrupted after the new key was written, before any subject key moved:
    (tmp_path / "intake-master.previous").write_text(old)
    (tmp_path / "intake-master.key").write_text(os.urandom(32).hex())
    settings = Settings.from_env("intake")
    assert settings.previous_master_keys_hex == (old,)
    assert _sealer(settings).open(sealed) == {"name": "山田太郎"}  # the service reads on, and rewraps

    with socket.socket() as listening:  # "intake is running", on a port of its own
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        env = {**os.environ, "INTAKE_PORT": str(listening.getsockname()[1])}
        out = subprocess.run([sys.executable, "-m", "libs.platform.tools.cli", "keys", "rotate", "--service", "intake"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "stop it first" in out.stderr
    assert (tmp_path / "intake-master.previous").exists()  # nothing touched
