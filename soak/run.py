"""One phase of the soak: a system, its load, and its faults one after the other.

For each fault: the load runs; a third into the fault's share of commands the fault is injected
(the load goes on meanwhile); once it is healed the clients finish what they hold and pause, and
the soak measures the seconds until every service is ready with no lag anywhere, sends again any
command that ran out of time, checks everything, and lets the load go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from soak.check import Checker, Findings, Item
from soak.commands import Ledger
from soak.faults import Fault
from soak.flows import Portal
from soak.load import Driver
from soak.nats import LocalCluster
from soak.system import LIE_AFTER, Readiness, System


@dataclass
class Options:
    clients: int = 6
    fault_seconds: float = 4.0
    recover_timeout: float = 180.0
    seed: int = 13
    keep: bool = False


@dataclass
class Row:
    phase: str
    fault: str
    commands: int = 0
    accepted: int = 0
    lost: int = 0
    duplicated: int = 0
    stuck: int = 0
    recover: float | None = None
    note: str = ""
    problems: list[Item] = field(default_factory=list)
    readyz_lied: bool = False


@dataclass
class Phase:
    label: str
    rows: list[Row] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)
    findings: Findings | None = None
    seconds: float = 0.0


def run_phase(system: System, *, faults: list[Fault], commands: int, options: Options,
              log: Callable[[str], object] = print) -> Phase:
    label, cluster = system.label, isinstance(system.nats, LocalCluster)
    phase, started = Phase(label), time.monotonic()
    driver = None
    try:
        system.start()
        log(f"[{label}] {len(system.services)} services up; NATS {'3-node cluster, R3' if cluster else 'one node'}")
        driver = Driver(Portal(system, phase.ledger), clients=options.clients, seed=options.seed)
        driver.setup()
        checker = Checker(system, phase.ledger)
        previous: set[Item] = set()
        row, previous = _settle(system, checker, driver, Row(label, "set-up"), previous, options, time.monotonic())
        phase.rows.append(row)
        share = commands // len(faults)
        for i, fault in enumerate(faults):
            end = commands if i == len(faults) - 1 else (i + 1) * share
            driver.segment = fault.name
            driver.run_to(i * share + share // 3)
            driver.wait_issued(i * share + share // 3)
            driver.run_to(end)
            log(f"[{label}] {fault.name} ...")
            note, healed = fault.inject(system, options.fault_seconds)
            row, previous = _settle(system, checker, driver, Row(label, fault.name, note=note), previous, options,
                                    healed)
            phase.rows.append(row)
            log(f"[{label}] {fault.name}: recovered in {_seconds(row.recover)}, lost {row.lost}, "
                f"duplicated {row.duplicated}, stuck {row.stuck}")
            driver.run_to(end)
            driver.wait_issued(end)
        driver.segment = "(end: drain, final check)"
        row, previous = _settle(system, checker, driver, Row(label, "(end: drain, final check)"), previous,
                                options, time.monotonic(), timeout=max(options.recover_timeout, 300))
        phase.rows.append(row)
        phase.findings = checker.last
        for row in phase.rows:  # a fault's commands: from its injection to the next fault's
            segment = "setup" if row.fault == "set-up" else row.fault
            row.commands = len([c for c in phase.ledger.commands if c.segment == segment])
            row.accepted = len(phase.ledger.of("accepted", segment=segment))
    finally:
        if driver is not None:
            driver.close()
        system.stop()
        if not options.keep:
            system.drop()
        phase.seconds = time.monotonic() - started
    return phase


def _settle(system: System, checker: Checker, driver: Driver, row: Row, previous: set[Item], options: Options,
            healed: float, timeout: float | None = None) -> tuple[Row, set[Item]]:
    """Pause the load, wait for quiet, resend what ran out of time, check; fill in the row."""
    driver.pause()
    timeout = timeout or options.recover_timeout
    waited, seen = system.wait_quiet(max(timeout - (time.monotonic() - healed), 1))
    row.recover = None if waited is None else time.monotonic() - healed
    if waited is None:  # not quiet in time: what did not move is stuck
        row.stuck = _stuck(seen)
        row.note = (row.note + "; " if row.note else "") + "; ".join([seen.describe(), *seen.behind])[:400]
    if driver.resend_unresolved() or waited is None:  # a second chance, so that the check can run
        waited, seen = system.wait_quiet(timeout)
    if waited is None:  # the next check compares again
        return row, previous
    if row.recover is not None and row.recover > 5 and seen.waited_for:
        row.note = (row.note + "; " if row.note else "") + "last waited for: " + seen.waited_for[:200]
    if seen.claimed_quiet:
        row.note = (row.note + "; " if row.note else "") + (
            f"/readyz CLAIMED QUIET ({seen.claimed_looks} look(s) in a row, {seen.claimed_seconds:.1f} s) at "
            + seen.claimed_quiet[:300])
        row.readyz_lied = seen.claimed_seconds >= LIE_AFTER
    findings = checker.check()
    new = findings.items - previous
    row.problems = sorted(new)
    row.lost = sum(1 for p in new if p[0].startswith("lost"))
    row.duplicated = sum(1 for p in new if not p[0].startswith("lost"))
    return row, findings.items


def _stuck(seen: Readiness) -> int:
    lag = sum(loop["lag"] for loop in seen.lagging)
    return lag or len(seen.lagging) or len(seen.behind) or sum(not ok for ok in seen.ready.values()) or 1


def _seconds(value: float | None) -> str:
    return "NOT RECOVERED" if value is None else f"{value:.1f} s"
