"""The `tsunagu` command: dev tokens, the local system, demo data and OpenAPI documents."""

from __future__ import annotations

import argparse
import sys

from libs.platform.auth import ROLES, mint_token
from libs.platform.settings import Settings

SERVICES = ("intake", "registry", "dispatch", "reporting")


def _token(args: argparse.Namespace) -> int:
    secret = Settings.from_env("intake").jwt_secret
    print(mint_token(secret, sub=args.sub, org=args.org, roles=args.role, ttl_seconds=args.ttl))
    return 0


def _run(args: argparse.Namespace) -> int:
    from libs.platform.launcher import run_system

    return run_system(demo=not args.no_demo)


def _demo(args: argparse.Namespace) -> int:
    from libs.platform.demo import load_demo

    load_demo(force=args.force)
    return 0


def _openapi(args: argparse.Namespace) -> int:
    from libs.platform.openapi import write_documents, stale_documents

    if args.write:
        for path in write_documents():
            print(f"wrote {path}")
        return 0
    stale = stale_documents()
    for path in stale:
        print(f"out of date: {path} (run `make openapi`)", file=sys.stderr)
    return 1 if stale else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tsunagu", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("token", help="print a dev bearer token signed with the local dev key")
    p.add_argument("--role", action="append", required=True, choices=sorted(ROLES),
                   help="a role claim (repeat for several)")
    p.add_argument("--org", required=True, help="全国地方公共団体コード or centre id")
    p.add_argument("--sub", default="dev-user")
    p.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds")
    p.set_defaults(func=_token)

    p = sub.add_parser("run", help="run NATS (embedded unless one answers) and the four services")
    p.add_argument("--no-demo", action="store_true", help="do not load the demo data set")
    p.set_defaults(func=_run)

    p = sub.add_parser("demo", help="load the demo data set into running services")
    p.add_argument("--force", action="store_true", help="load again even if loaded before")
    p.set_defaults(func=_demo)

    p = sub.add_parser("openapi", help="check (or --write) openapi/<service>.yaml")
    p.add_argument("--write", action="store_true")
    p.set_defaults(func=_openapi)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
