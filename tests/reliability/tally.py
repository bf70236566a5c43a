"""A module-level tally of faults injected, inputs tried and outcomes, printed at the end of the session."""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

WIDTH = 54


@dataclass
class FaultRow:
    """One kind of fault: how many were injected, in how many cases, and how the waits ended."""

    injected: int = 0
    cases: int = 0
    survived: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


@dataclass
class Tally:
    """Everything the reliability suite counts; RELIABILITY.md quotes the printed table."""

    faults: defaultdict[str, FaultRow] = field(default_factory=lambda: defaultdict(FaultRow))
    false_successes: int = 0
    lost_states: int = 0
    bad_inputs: Counter[str] = field(default_factory=Counter)
    bad_input_cases: int = 0
    bad_inputs_clear: int = 0
    property_examples: Counter[str] = field(default_factory=Counter)
    property_known_bug_hits: Counter[str] = field(default_factory=Counter)
    log_lines_scanned: int = 0
    secret_checks: int = 0
    secrets_found: int = 0
    secrets_echoed: int = 0
    outages: Counter[str] = field(default_factory=Counter)

    def fault(self, kind: str, *, injected: int, outcome: str, survived: bool) -> None:
        """Count one fault case: ``injected`` faults of ``kind``, the event ``outcome``, and whether it was right."""
        row = self.faults[kind]
        row.injected += injected
        row.cases += 1
        row.survived += int(survived)
        row.outcomes[outcome] += 1

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for a JSON dump."""
        return {
            "faults": {
                k: {"injected": r.injected, "cases": r.cases, "survived": r.survived, "outcomes": dict(r.outcomes)}
                for k, r in sorted(self.faults.items())
            },
            "false_successes": self.false_successes,
            "lost_states": self.lost_states,
            "bad_inputs": dict(self.bad_inputs),
            "bad_input_cases": self.bad_input_cases,
            "bad_inputs_clear": self.bad_inputs_clear,
            "property_examples": dict(self.property_examples),
            "property_known_bug_hits": dict(self.property_known_bug_hits),
            "log_lines_scanned": self.log_lines_scanned,
            "secret_checks": self.secret_checks,
            "secrets_found": self.secrets_found,
            "secrets_echoed": self.secrets_echoed,
            "outages": dict(self.outages),
        }

    def table(self) -> list[str]:
        """The tally as text lines (a Markdown-ish table)."""
        lines = ["", "=== reliability tally ==="]
        if self.faults:
            lines.append(f"{'fault':<{WIDTH}} {'injected':>8} {'cases':>6} {'survived':>8}  outcomes")
            total = FaultRow()
            for kind, row in sorted(self.faults.items()):
                outcomes = ", ".join(f"{k} {v}" for k, v in sorted(row.outcomes.items()))
                lines.append(f"{kind:<{WIDTH}} {row.injected:>8} {row.cases:>6} {row.survived:>8}  {outcomes}")
                total.injected += row.injected
                total.cases += row.cases
                total.survived += row.survived
                total.outcomes.update(row.outcomes)
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(total.outcomes.items()))
            lines.append(f"{'TOTAL':<{WIDTH}} {total.injected:>8} {total.cases:>6} {total.survived:>8}  {outcomes}")
        lines.append(f"false successes: {self.false_successes}; final states lost: {self.lost_states}")
        if self.bad_inputs:
            total_bad = sum(self.bad_inputs.values())
            per = ", ".join(f"{k} {v}" for k, v in sorted(self.bad_inputs.items()))
            lines.append(
                f"bad inputs tried: {self.bad_input_cases}, in {total_bad} checks ({per}); "
                f"checks with a clear error: {self.bad_inputs_clear}"
            )
        if self.property_examples:
            per = ", ".join(f"{k} {v}" for k, v in sorted(self.property_examples.items()))
            lines.append(f"property examples: {sum(self.property_examples.values())} ({per})")
            if self.property_known_bug_hits:
                hits = ", ".join(f"{k} {v}" for k, v in sorted(self.property_known_bug_hits.items()))
                lines.append(f"property examples that hit a known package bug: {hits}")
        if self.secret_checks:
            lines.append(
                f"secret scans: {self.secret_checks} checks, {self.log_lines_scanned} log lines scanned, "
                f"secrets found: {self.secrets_found}"
            )
        if self.secrets_echoed:
            lines.append(f"credentials a server echoed, quoted in an error (bug B11): {self.secrets_echoed}")
        if self.outages:
            lines.append("outages: " + ", ".join(f"{k} {v}" for k, v in sorted(self.outages.items())))
        return lines

    def dump(self) -> None:
        """Write the tally as JSON where ``RELIABILITY_TALLY_JSON`` says (nothing otherwise)."""
        path = os.environ.get("RELIABILITY_TALLY_JSON")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(self.as_dict(), handle, indent=2, sort_keys=True)


TALLY = Tally()
