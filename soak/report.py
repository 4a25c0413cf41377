"""The soak's table: fault × lost × duplicated × stuck × seconds to recover, then the totals
accepted = stored = published once = counted in reporting, per kind of command."""

from __future__ import annotations

from soak.run import Phase
from soak.system import LIE_AFTER


def render(phases: list[Phase], seconds: float) -> tuple[str, bool]:
    lines = ["", f"{'phase':<8} {'fault':<26} {'commands':>8} {'accepted':>8} {'lost':>5} {'dup':>5} {'stuck':>6} "
             f"{'recover s':>10}  what was done"]
    rule = "-" * 110
    lines.append(rule)
    rows = [row for phase in phases for row in phase.rows]
    for row in rows:
        recover = "STUCK" if row.recover is None else f"{row.recover:.1f}"
        lines.append(f"{row.phase:<8} {row.fault:<26} {row.commands:>8} {row.accepted:>8} {row.lost:>5} "
                     f"{row.duplicated:>5} {row.stuck:>6} {recover:>10}  {row.note}")
    lines.append(rule)
    faults = [r for r in rows if r.fault not in ("set-up", "(end: drain, final check)") and r.recover is not None]
    worst = max((r.recover for r in faults), default=0.0)
    lost, dup, stuck = (sum(getattr(r, a) for r in rows) for a in ("lost", "duplicated", "stuck"))
    lines.append(f"{'total':<35} {sum(r.commands for r in rows):>8} {sum(r.accepted for r in rows):>8} {lost:>5} "
                 f"{dup:>5} {stuck:>6} {'max ' + format(worst, '.1f'):>10}")
    lines += ["", "accepted = stored = published once = counted in reporting",
              f"{'phase':<8} {'kind':<14} {'accepted':>8} {'stored':>8} {'published':>9} {'counted':>8}"]
    refused = unresolved = 0
    for phase in phases:
        refused += len(phase.ledger.of("refused"))
        unresolved += len(phase.ledger.of("unresolved"))
        if phase.findings is None:
            lines.append(f"{phase.label:<8} (no final check: the phase did not finish)")
            continue
        for kind, t in phase.findings.tallies.items():
            counted = "-" if t.counted is None else str(t.counted)
            lines.append(f"{phase.label:<8} {kind:<14} {t.accepted:>8} {t.stored:>8} {t.published:>9} {counted:>8}")
        lines.append(f"{phase.label:<8} ministry's 延べ相談件数 FY2016 (/v1/reports/consultations): "
                     f"{phase.findings.ministry_total}")
        events = ", ".join(f"{s} {st} stored / {pub} on the stream" for s, (st, pub) in phase.findings.events.items())
        lines.append(f"{phase.label:<8} all events: {events}")
    lines.append("")
    lines.append("attempts the clients sent again (same Idempotency-Key), by fault and why:")
    for phase in phases:
        for row in phase.rows:
            segment = "setup" if row.fault == "set-up" else row.fault
            why = [(w, n) for (s, w), n in phase.ledger.retries.items() if s == segment]
            if why:
                lines.append(f"  {phase.label:<8} {row.fault:<26} " + ", ".join(f"{w} ×{n}" for w, n in sorted(why)))
    for phase in phases:
        lines.append(f"{phase.label}: {phase.seconds:.0f} s")
        for c in phase.ledger.of("refused")[:10]:
            lines.append(f"  REFUSED {c.kind} {c.path}: {c.detail}")
        for c in phase.ledger.of("unresolved")[:10]:
            lines.append(f"  NEVER ANSWERED {c.kind} {c.path} (key {c.key})")
    problems = [(row.phase, row.fault, p) for row in rows for p in row.problems]
    if problems:
        lines.append(f"\nproblems ({len(problems)}; first 30):")
        lines += [f"  {phase} / {fault}: {what} — {kind} {ident}" for phase, fault, (what, kind,
                                                                                     ident) in problems[:30]]
    early = [r for r in rows if r.readyz_lied]
    if early:  # a liveness lie: an operator would have believed it (DESIGN §8)
        lines.append(f"\n/readyz said ready with no lag for {LIE_AFTER:.0f} s or more before the databases and "
                     f"streams agreed: {len(early)} time(s) ({', '.join(f'{r.phase} {r.fault}' for r in early)}); "
                     f"see 'CLAIMED QUIET' in the notes")
    failed = bool(lost or dup or stuck or refused or unresolved or early or any(p.findings is None for p in phases))
    lines.append(f"\nsoak {'FAILED' if failed else 'passed'}: lost {lost}, duplicated {dup}, stuck {stuck}, "
                 f"refused {refused}, never answered {unresolved}; {seconds:.0f} s in all")
    return "\n".join(lines), failed
