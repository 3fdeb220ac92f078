"""What a stress run did and what it found: figures to print, failures by check."""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class StressReport:
    seed: int
    rounds: int = 0
    load_s: float = 0.0
    total_s: float = 0.0
    statuses: dict[str, Counter[str]] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    socket_receipts: int = 0
    events: Counter[str] = field(default_factory=Counter)
    incidents: Counter[str] = field(default_factory=Counter)
    sockets: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    deadlock_lines: int = 0  # unabsorbed: logged as errors
    retries_by_process: dict[str, int] = field(default_factory=dict)
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    timeline: dict[str, float] = field(default_factory=dict)  # seconds from the first round
    failures: dict[str, list[str]] = field(default_factory=dict)
    log_dir: Path = Path()

    @property
    def failed(self) -> bool:
        return any(self.failures.values())

    def summary(self, *, limit: int = 15) -> str:
        lines = [
            f"stress run (seed {self.seed}): {self.rounds} rounds, load {self.load_s:.1f}s, "
            f"total {self.total_s:.1f}s; logs in {self.log_dir}",
            f"transactions retried (log lines): {self.retries} {self.retries_by_process}",
            "actions by kind (status: count):",
        ]
        total = 0
        for kind in sorted(self.statuses):
            counts = self.statuses[kind]
            total += sum(counts.values())
            lines.append(
                f"  {kind:20} {dict(sorted(counts.items()))}{_times(self.latencies.get(kind))}"
            )
        lines.append(f"  {'receipt_socket':20} {self.socket_receipts} sent")
        fives = sum(
            n for counts in self.statuses.values() for code, n in counts.items() if code[0] == "5"
        )
        lines.append(f"HTTP requests: {total}; 5xx answers: {fives}")
        lines.append(f"deadlocks in the logs (not retried): {self.deadlock_lines}")
        lines.append(f"incidents by final state: {dict(self.incidents)}")
        lines.append(f"events: {sum(self.events.values())} {dict(self.events.most_common())}")
        lines.append(f"sockets: {self.sockets}")
        lines.append(f"process exit codes: {self.exit_codes}")
        lines.append(f"timeline (s): { {k: round(v, 1) for k, v in self.timeline.items()} }")
        for check, problems in self.failures.items():
            if problems:
                lines.append(f"FAILED {check}: {len(problems)}")
                lines += [f"  - {p}" for p in problems[:limit]]
                if len(problems) > limit:
                    lines.append(f"  ... and {len(problems) - limit} more")
        if not self.failed:
            lines.append("all checks passed")
        return "\n".join(lines)


def _times(seconds: list[float] | None) -> str:
    if not seconds:
        return ""
    ordered = sorted(seconds)
    p50, p95 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.95)]
    return f"  p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"


def coverage(report: StressReport, *, disabled: bool) -> list[str]:
    """The run exercised what it exists for (else its passing would prove little)."""
    problems = [
        f"no {kind} was attempted"
        for kind in (
            "sos",
            "sos_retry",
            "accept",
            "decline",
            "receipt_http",
            "elder_location",
            "responder_location",
            "officer_cancel",
            "officer_assign",
            "officer_escalate",
            "disable",
        )
        if not sum(report.statuses.get(kind, Counter()).values())
    ]
    if not report.socket_receipts:
        problems.append("no receipt was sent over a socket")
    for name in ("offer.expired", "incident.escalated", "offer.declined", "incident.accepted"):
        if not report.events[name]:
            problems.append(f"no {name} event happened")
    if not disabled:
        problems.append("no responder was disabled")
    return problems
