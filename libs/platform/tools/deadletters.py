"""`tsunagu dead-letters list|resolve`: a service's dead letters, a consumer's (a message of another
service's stream) or a log follower's (an event of its own log a read model never applied), through
the service's /v1/ops API (role `operator`). Resolve one after its cause is fixed (and the read
model rebuilt): the service is unready until every one is (deploy/README, Dead letters)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from libs.platform.settings import Settings, port_of

SERVICES = ("intake", "registry", "dispatch", "reporting")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("dead-letters", help="list or resolve a service's dead letters (GET/POST /v1/ops/dead-letters)")
    p.add_argument("service", choices=SERVICES)
    p.add_argument("--url", help="the service (default: its local port)")
    p.add_argument("--token", help="an operator's bearer token (default: a dev token)")
    actions = p.add_subparsers(dest="dead_letters_command", required=True)
    listing = actions.add_parser("list", help="the open dead letters, each with its reason")
    listing.add_argument("--all", action="store_true", help="the resolved ones too")
    listing.set_defaults(func=_list)
    resolving = actions.add_parser("resolve", help="say that one dead letter's cause is dealt with")
    resolving.add_argument("consumer", help="the consumer or read model, as `list` shows it")
    resolving.add_argument("stream", help="the stream (INTAKE…) or the log (intake-log…)")
    resolving.add_argument("position", type=int)
    resolving.set_defaults(func=_resolve)


def _call(args: argparse.Namespace, method: str, path: str, **params: Any) -> dict | None:
    """The service's answer (200), else None once the reason is printed."""
    import httpx

    from libs.platform.web.auth import mint_token

    token = args.token or mint_token(Settings.from_env(args.service).jwt_secret, sub="tsunagu-cli", org="ops",
                                     roles=["operator"])
    url = (args.url or f"http://127.0.0.1:{port_of(args.service)}").rstrip("/")
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
            r = api.request(method, path, params=params)
    except httpx.HTTPError as e:
        print(f"{args.service} does not answer at {url} ({type(e).__name__})", file=sys.stderr)
        return None
    if r.status_code == 200:
        return r.json()
    problem = r.json() if r.headers.get("content-type", "").endswith("json") else {}
    print(f"{r.status_code}: {problem.get('detail', r.text)}", file=sys.stderr)
    return None


def _list(args: argparse.Namespace) -> int:
    answer = _call(args, "GET", "/v1/ops/dead-letters", open_only=not args.all)
    if answer is None:
        return 1
    for d in answer["data"]:
        state = f"resolved {d['resolved_at']} by {d['resolved_by']}" if d["resolved_at"] else "open"
        print(f"{d['consumer']} {d['stream']} {d['position']}  {state}  recorded {d['recorded_at']}\n"
              f"    {d['reason'].splitlines()[0] if d['reason'] else ''}")
    if not answer["data"]:
        print("no dead letters" if args.all else "no open dead letters")
    return 0


def _resolve(args: argparse.Namespace) -> int:
    answer = _call(args, "POST", f"/v1/ops/dead-letters/{args.consumer}/{args.stream}/{args.position}/resolution")
    if answer is None:
        return 1
    print(f"resolved {args.consumer} {args.stream} {args.position}; {len(answer['data'])} still open")
    return 0
