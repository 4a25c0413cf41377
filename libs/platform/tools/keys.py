"""`tsunagu keys`: master key rotation (privacy/sealing.py), so that an erased subject's key is
unreadable in every old copy — backups, WAL archives, dead tuples — once the old master is gone.

In production the master keys are secrets of the deployment: start the service with a new
`<SERVICE>_MASTER_KEY` and the old one in `<SERVICE>_PREVIOUS_MASTER_KEYS`; its `rewrap` job
moves every subject key; `tsunagu keys status` says when none is left under the old key; then
remove it from the deployment and destroy it, and take a new backup (older ones are unreadable).
On a laptop (`make run`, keys in var/) `tsunagu keys rotate` does all of it at once.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
from pathlib import Path

from libs.platform.messaging.signing import public_key_hex
from libs.platform.privacy.keystore import master_id
from libs.platform.privacy.sealing import Sealer
from libs.platform.settings import Settings, var_dir
from libs.platform.store.db import make_engine

SEALING = ("intake", "registry", "dispatch")  # the services that seal personal data


def _sealer(settings: Settings, master: str | None = None, previous: tuple[str, ...] | None = None) -> Sealer:
    previous_hex = settings.previous_master_keys_hex if previous is None else previous
    return Sealer(make_engine(settings), bytes.fromhex(master or settings.master_key_hex),
                  tuple(bytes.fromhex(k) for k in previous_hex))


def _status(args: argparse.Namespace) -> int:
    for service in args.service or SEALING:
        settings = Settings.from_env(service)
        sealer = _sealer(settings)
        held = [sealer.current, *(master_id(bytes.fromhex(k)) for k in settings.previous_master_keys_hex)]
        counts = sealer.keys_by_master()
        left = sum(n for m, n in counts.items() if m != sealer.current)
        print(f"{service}: current master {sealer.current}; live subject keys by master: "
              + (", ".join(f"{m}={n}" for m, n in sorted(counts.items())) or "none")
              + ("" if left else "; none left under an older master")
              + ("" if len(held) == 1 else f"; also holding {', '.join(held[1:])}"))
    return 0


def _rewrap(args: argparse.Namespace) -> int:
    for service in args.service or SEALING:
        sealer = _sealer(Settings.from_env(service))
        moved = 0
        while batch := sealer.rewrap():
            moved += batch
            print(f"{service}: {moved} subject keys rewrapped …", file=sys.stderr)
        print(f"{service}: {moved} subject keys rewrapped under {sealer.current}")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    """Laptop only: the master keys are files in var/. The new key is written first and the old one
    kept beside it (`<service>-master.previous`) until every subject key is rewrapped, so an
    interrupted rotation loses nothing: the service (or this command again) finishes it."""
    for service in args.service or SEALING:
        settings = Settings.from_env(service)
        path, previous = var_dir() / f"{service}-master.key", var_dir() / f"{service}-master.previous"
        if os.environ.get(f"{service.upper()}_MASTER_KEY") or not path.exists():
            print(f"{service}: its master key is not the file {path}: rotate it in the deployment "
                  "(see `tsunagu keys --help`)", file=sys.stderr)
            return 2
        if _answers(settings.port):
            print(f"{service} is running (port {settings.port}): stop it first (tsunagu stop {service}); a running "
                  "service would go on wrapping keys under the old master", file=sys.stderr)
            return 2
        old, new = settings.master_key_hex, secrets.token_hex(32)
        _write(previous, ",".join([old, *settings.previous_master_keys_hex]))
        _write(path, new)
        sealer = _sealer(settings, master=new, previous=(old, *settings.previous_master_keys_hex))
        moved = 0
        while batch := sealer.rewrap():
            moved += batch
        if set(sealer.keys_by_master()) - {sealer.current}:
            print(f"{service}: some subject keys are still under an older master: run it again", file=sys.stderr)
            return 1
        previous.unlink()  # the old master key is gone with the file it was in
        print(f"{service}: master {master_id(bytes.fromhex(old))} → {sealer.current}, {moved} subject keys "
              f"rewrapped; start the service again (tsunagu start {service}) and take a new backup")
    return 0


def _write(path: Path, text: str) -> None:
    fresh = path.with_name(f".{path.name}.new")
    fresh.write_text(text)
    fresh.chmod(0o600)
    os.replace(fresh, path)


def _answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _public(args: argparse.Namespace) -> int:
    """The public keys of the services' signing keys, as the lines every service's environment needs."""
    for service in args.service or SEALING:
        print(f"{service.upper()}_PUBLIC_KEY={public_key_hex(Settings.from_env(service).audit_key_hex)}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    keys = sub.add_parser("keys", help="master key rotation, and the public keys that check events",
                          description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = keys.add_subparsers(dest="keys_command", required=True)
    for name, func, text in (
            ("status", _status, "live subject keys per master key"),
            ("rewrap", _rewrap, "rewrap every subject key under the current master now (the job does it too)"),
            ("rotate", _rotate, "on a laptop: a new master key in var/, every subject key rewrapped"),
            ("public", _public, "the public keys that check each service's events (<SERVICE>_PUBLIC_KEY=…)")):
        p = actions.add_parser(name, help=text)
        p.add_argument("--service", action="append", choices=SEALING, help="one service (repeatable); default all")
        p.set_defaults(func=func)
