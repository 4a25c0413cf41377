"""`make soak` / `python -m soak`: both phases, the table, and exit 1 on anything lost,
duplicated or stuck (or a command refused or never answered).

  python -m soak                      # full: 10,000 + 3,000 commands, 6 clients
  python -m soak --short              # CI size: 320 commands, 4 clients, one of each kind of fault
  python -m soak --commands 2000 --cluster-commands 500 --only single
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from soak.faults import CLUSTER, SHORT_CLUSTER, SHORT_SINGLE, SINGLE
from soak.report import render
from soak.run import Options, run_phase
from soak.system import System


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.short:
        args.commands, args.cluster_commands = args.commands or 240, args.cluster_commands or 80
        options = Options(clients=args.clients or 4, fault_seconds=args.fault_seconds or 1.0,
                          recover_timeout=args.recover_timeout or 90, seed=args.seed, keep=args.keep)
    else:
        args.commands, args.cluster_commands = args.commands or 10_000, args.cluster_commands or 3_000
        options = Options(clients=args.clients or 6, fault_seconds=args.fault_seconds or 4.0,
                          recover_timeout=args.recover_timeout or 180, seed=args.seed, keep=args.keep)
    tmp = Path(tempfile.mkdtemp(prefix="tsunagu-soak-"))
    print(f"soak: {args.commands} + {args.cluster_commands} commands from {options.clients} clients; "
          f"faults last {options.fault_seconds:.0f} s; logs in {tmp}", flush=True)
    plan = [(System(tmp, cluster=cluster, label=label), faults, commands)
            for label, cluster, faults, commands in (
                ("single", False, SHORT_SINGLE if args.short else SINGLE, args.commands),
                ("cluster", True, SHORT_CLUSTER if args.short else CLUSTER, args.cluster_commands))
            if args.only in (None, label)]
    if args.short and len(plan) == 2:
        plan[1][0].start_soon()  # the cluster comes up while the single node is soaked: CI time
    started, phases = time.monotonic(), []
    try:
        for system, faults, commands in plan:
            phases.append(run_phase(system, faults=faults, commands=commands, options=options, log=_log))
    except Exception:
        print(f"soak: failed; logs kept in {tmp}", file=sys.stderr)
        raise
    finally:
        for system, _, _ in plan[len(phases):]:  # a phase that never ran (or failed) is torn down too
            system.stop()
            if not args.keep:
                system.drop()
    report, failed = render(phases, time.monotonic() - started)
    print(report, flush=True)
    if failed or args.keep:
        print(f"logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


def _log(line: str) -> None:
    print(f"{time.strftime('%X')} {line}", flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m soak", description=__doc__.split("\n")[0])
    p.add_argument("--short", action="store_true", help="the CI size")
    p.add_argument("--commands", type=int, help="commands on one nats-server (default 10,000)")
    p.add_argument("--cluster-commands", type=int, help="commands on the 3-node cluster (default 3,000)")
    p.add_argument("--clients", type=int, help="concurrent clients (default 6)")
    p.add_argument("--fault-seconds", type=float, help="how long each fault lasts (default 4)")
    p.add_argument("--recover-timeout", type=float, help="seconds after which a fault counts as stuck (default 180)")
    p.add_argument("--only", choices=("single", "cluster"))
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--keep", action="store_true", help="keep the schemas and logs")
    return p


if __name__ == "__main__":
    sys.exit(main())
