"""Counts each fault-suite scenario reports: requests sent, served, failed, records lost.

A scenario fills a ``Tally`` and hands it to ``record``; the conftest prints every
tally at the end of the run (the table ``docs/RELIABILITY.md`` quotes), and writes
them as JSON lines to ``$STEADYLLM_RELIABILITY_REPORT`` when that is set.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class Tally:
    scenario: str
    sent: int = 0
    served: int = 0
    failed: int = 0
    records_lost: int = 0
    notes: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in self.notes.items())
        return (
            f"{self.scenario:<40} sent={self.sent:<6} served={self.served:<6} "
            f"failed={self.failed:<5} records_lost={self.records_lost}{extra}"
        )


TALLIES: list[Tally] = []


def record(tally: Tally) -> Tally:
    """Keep ``tally`` for the end-of-run table (and the JSON report, if asked for)."""
    TALLIES.append(tally)
    path = os.environ.get("STEADYLLM_RELIABILITY_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(tally)) + "\n")
    return tally
