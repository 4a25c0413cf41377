"""The `tsunagu` command: dev tokens, the local system (and one service of it), demo data, OpenAPI
documents, audits, rebuilds and dead letters."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from libs.domain.audit import AUDITOR_PURPOSES, NATIONAL
from libs.platform.settings import Settings, port_of
from libs.platform.tools import deadletters, keys
from libs.platform.tools.progress import Progress, each
from libs.platform.web.auth import ROLES, mint_token

if TYPE_CHECKING:  # the audit modules load only for the audit commands
    from libs.platform.audit.verify import Report

SERVICES = ("intake", "registry", "dispatch", "reporting")


def _token(args: argparse.Namespace) -> int:
    secret = Settings.from_env("intake").jwt_secret
    try:
        print(mint_token(secret, sub=args.sub, org=args.org, roles=args.role, ttl_seconds=args.ttl))
    except ValueError as e:  # roles that must not be held together (libs/platform/web/auth.py)
        print(f"tsunagu token: {e}", file=sys.stderr)
        return 2
    return 0


def _run(args: argparse.Namespace) -> int:
    from libs.platform.tools.launcher import run_system

    return run_system(demo=not args.no_demo)


def _control(args: argparse.Namespace) -> int:
    """stop / start / restart one service of a running `tsunagu run`, or its status."""
    from libs.platform.tools.control import LauncherNotRunning, ask

    try:
        answer = ask(args.command, getattr(args, "service", None))
    except LauncherNotRunning as e:
        print(e, file=sys.stderr)
        return 2
    print(answer["message"], file=sys.stdout if answer["ok"] else sys.stderr)
    return 0 if answer["ok"] else 1


def _rebuild(args: argparse.Namespace) -> int:
    """Rebuild reporting's read models on the running service and follow the replay."""
    import time

    import httpx

    token = args.token or mint_token(Settings.from_env("reporting").jwt_secret, sub="tsunagu-cli", org="ops",
                                     roles=["operator"])
    with httpx.Client(base_url=args.url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
        try:
            r = api.post("/v1/ops/rebuild")
        except httpx.HTTPError as e:
            print(f"reporting does not answer at {args.url} ({type(e).__name__}); if it is stopped, rebuild it "
                  "offline: python -m services.reporting.rebuild", file=sys.stderr)
            return 2
        if r.status_code != 202:
            problem = r.json() if r.headers.get("content-type", "").endswith("json") else {}
            print(f"{r.status_code}: {problem.get('detail', r.text)}", file=sys.stderr)
            return 1
        state = r.json()
        print(f"rebuild {state['generation']} started by {state['started_by']}: the reports answer 503 until "
              "the replay is done", flush=True)
        if args.no_wait:
            return 0
        with Progress("replaying", unit="events") as progress:  # a bar on a terminal only
            while state["state"] == "replaying":
                time.sleep(0.5 if progress.shown else 1)
                state = api.get("/v1/ops/rebuild").json()
                targets = [s["target"] for s in state["streams"]]
                progress(sum(s["position"] for s in state["streams"]),
                         None if None in targets or not targets else sum(targets))
        streams = ", ".join(f"{s['stream']} {s['position']}" for s in state["streams"])
        print(f"  {state['state']}: {streams or 'no stream'}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from libs.platform.tools.demo import load_demo

    load_demo(force=args.force)
    return 0


def _openapi(args: argparse.Namespace) -> int:
    from libs.platform.tools.openapi import stale_documents, write_documents

    if args.write:
        for path in write_documents():
            print(f"wrote {path}")
        return 0
    stale = stale_documents()
    for path in stale:
        print(f"out of date: {path} (run `make openapi`)", file=sys.stderr)
    return 1 if stale else 0


def _audit_verify(args: argparse.Namespace) -> int:
    import asyncio

    if args.url is None:
        return _print_report(_verify_from_bus(args))
    from libs.platform.audit.verify import AuditClient
    from libs.platform.messaging.cloudevents import Envelope
    from libs.platform.messaging.replay import read_stream

    token = args.token or mint_token(Settings.from_env("intake").jwt_secret, sub="tsunagu-cli", org=NATIONAL,
                                     roles=["auditor"])
    bus = None
    if args.nats:
        with Progress(f"reading {args.stream}", unit="messages") as progress:
            bus = [Envelope.from_json(raw) for raw in asyncio.run(read_stream(args.nats, args.stream,
                                                                              progress=progress))]
    with Progress(f"verifying {args.url}", unit="records") as progress:
        report = AuditClient(args.url, token).verify(bus, progress=progress)
    return _print_report(report)


def _verify_from_bus(args: argparse.Namespace) -> Report:
    """No audit API: the stream and the checkpoints in AUDIT are all a witness has."""
    import asyncio

    from libs.platform.audit.stream import verify_from_bus

    if not (args.nats and args.stream):
        raise SystemExit("audit verify: give --url, or --nats and --stream to verify from the bus alone")
    service = args.service or args.stream.lower()
    with Progress(f"reading {args.stream}", unit="messages") as progress:
        return asyncio.run(verify_from_bus(args.nats, args.stream, service, args.public_key, progress=progress))


def _print_report(report: Report) -> int:
    print(f"{report.service}: {report.events} events, {report.checkpoints} checkpoints"
          + (f", {report.bus_messages} bus messages" if report.bus_messages is not None else ""))
    for problem in report.problems:
        print(f"  PROBLEM: {problem}")
    for note in report.notes:
        print(f"  note: {note}")
    if report.ok:
        print("  verified")
        return 0
    print(f"  first bad sequence: {report.first_bad_sequence if report.first_bad_sequence is not None else 'unknown'}")
    return 1


def _replay(args: argparse.Namespace) -> int:
    import asyncio
    from datetime import datetime

    from libs.platform.messaging.replay import read_stream

    since = datetime.fromisoformat(args.since) if args.since else None
    until = datetime.fromisoformat(args.until) if args.until else None
    with Progress(f"reading {args.stream}", unit="messages") as progress:
        events = asyncio.run(read_stream(args.nats, args.stream, from_seq=args.from_seq, since=since, until=until,
                                         progress=progress))
    with open(args.out, "wb") as out:
        for raw in events:
            out.write(raw + b"\n")
    print(f"wrote {len(events)} events of {args.stream} to {args.out}")
    return 0


def _disclose(args: argparse.Namespace) -> int:
    """Everything held about one person across the services, as one JSON document, and the same
    as a document the person can read (Japanese HTML, and PDF with --pdf)."""
    import json
    from pathlib import Path

    import httpx

    from libs.platform.privacy.document import render_disclosure

    token = args.token or mint_token(Settings.from_env("intake").jwt_secret, sub="tsunagu-cli", org=NATIONAL,
                                     roles=["auditor_pii"])
    document: dict = {"subject": args.subject, "purpose": args.purpose, "services": []}
    params = {"purpose": args.purpose, **({"note": args.note} if args.note else {})}
    for url in each(args.url, "asking the services", unit="services"):
        r = httpx.get(f"{url.rstrip('/')}/v1/audit/subjects/{args.subject}", params=params,
                      headers={"Authorization": f"Bearer {token}"}, timeout=60)
        if r.status_code == 404:  # this service holds nothing of them in the auditor's jurisdiction
            continue
        r.raise_for_status()
        document["services"].append(r.json())
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(document, out, ensure_ascii=False, indent=2, default=str)
    counts = ", ".join(f"{s['service']}: {len(s['events'])} events" for s in document["services"])
    print(f"wrote {args.out} ({counts})")
    html = Path(args.html or Path(args.out).with_suffix(".html"))
    html.write_text(render_disclosure(json.loads(json.dumps(document, default=str))), encoding="utf-8")
    print(f"wrote {html} (the document for the person)")
    if args.pdf:
        from libs.platform.tools.browser import print_pdf

        print_pdf(html, Path(args.pdf))
        print(f"wrote {args.pdf}")
    return 0


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

    for action, text in (("stop", "stop one service of a running `tsunagu run`"),
                         ("start", "start one service of a running `tsunagu run` again"),
                         ("restart", "stop and start one service of a running `tsunagu run`")):
        p = sub.add_parser(action, help=text)
        p.add_argument("service", choices=SERVICES)
        p.set_defaults(func=_control)
    p = sub.add_parser("status", help="the services of a running `tsunagu run`")
    p.set_defaults(func=_control)

    p = sub.add_parser("rebuild", help="rebuild reporting's read models online and follow the replay "
                                       "(POST /v1/ops/rebuild)")
    p.add_argument("--url", default=f"http://127.0.0.1:{port_of('reporting')}", help="the reporting service")
    p.add_argument("--token", help="an operator's bearer token (default: a dev token)")
    p.add_argument("--no-wait", action="store_true", help="do not follow the replay")
    p.set_defaults(func=_rebuild)

    p = sub.add_parser("demo", help="load the demo data set into running services")
    p.add_argument("--force", action="store_true", help="load again even if loaded before")
    p.set_defaults(func=_demo)

    p = sub.add_parser("openapi", help="check (or --write) openapi/<service>.yaml")
    p.add_argument("--write", action="store_true")
    p.set_defaults(func=_openapi)

    p = sub.add_parser("audit", help="auditors' tools")
    audit = p.add_subparsers(dest="audit_command", required=True)
    v = audit.add_parser("verify", help="verify a service's log, checkpoints and bus copy (or, without --url, "
                                        "its stream and the checkpoints in AUDIT alone)")
    v.add_argument("--url", help="the service, e.g. http://127.0.0.1:8002 (omit to verify from the bus alone)")
    v.add_argument("--token", help="an auditor's bearer token (default: a dev token)")
    v.add_argument("--nats", help="also compare with the stream on this NATS server")
    v.add_argument("--stream", help="the stream to compare (INTAKE, REGISTRY, DISPATCH)")
    v.add_argument("--service", help="without --url: whose checkpoints (default: the stream's name, lower case)")
    v.add_argument("--public-key", help="without --url: the service's Ed25519 key (hex), got out of band; "
                                        "default: the key the checkpoints name")
    v.set_defaults(func=_audit_verify)

    p = sub.add_parser("replay", help="write a stream's CloudEvents, as published, to a JSON-lines file")
    p.add_argument("--nats", default=os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    p.add_argument("--stream", required=True, choices=["INTAKE", "REGISTRY", "DISPATCH"])
    start = p.add_mutually_exclusive_group()
    start.add_argument("--from-seq", type=int, help="a stream sequence (the bus numbers its messages 1, 2, 3...; the "
                                                    "log positions in each event's `sequence` may skip numbers)")
    start.add_argument("--since", help="ISO instant with offset")
    p.add_argument("--until", help="ISO instant with offset")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_replay)

    keys.add_parser(sub)
    deadletters.add_parser(sub)

    p = sub.add_parser("disclose", help="everything held about a person across the services (開示請求)")
    p.add_argument("--subject", required=True, help="the person's pseudonymous id (case id, supporter id)")
    p.add_argument("--purpose", required=True, choices=AUDITOR_PURPOSES,
                   help="why, as a purpose code (recorded in every service's log)")
    p.add_argument("--note", help="what the code does not say (sealed in the access record)")
    p.add_argument("--url", action="append", required=True, help="a service URL (repeat for each)")
    p.add_argument("--token", help="a token with the auditor_pii role (default: a dev token)")
    p.add_argument("--out", required=True, help="the JSON document")
    p.add_argument("--html", help="the document for the person, in Japanese (default: --out with .html)")
    p.add_argument("--pdf", help="also print that document to this PDF (needs chromium: make browser)")
    p.set_defaults(func=_disclose)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
