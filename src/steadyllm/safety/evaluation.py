"""Recall and false-positive rate of the input rules on a labelled set.

A labelled set is JSON lines: ``{"id", "text", "label": "attack"|"benign",
"category", "source": "user"|"tool"}``. :func:`evaluate` scans every row with
:func:`steadyllm.policy.injection.scan` at a threshold and counts. The test suite
and ``scripts/safety_eval.py`` both use it, so the documented figures and the
regression guard are the same computation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from steadyllm.policy.injection import DEFAULT_THRESHOLD, scan

__all__ = ["Evaluation", "Labelled", "evaluate", "load_labelled"]


@dataclass(frozen=True, slots=True)
class Labelled:
    id: str
    text: str
    attack: bool
    category: str
    source: str


@dataclass
class Evaluation:
    threshold: float
    attacks: int = 0
    caught: int = 0
    benign: int = 0
    false_positives: int = 0
    misses: list[tuple[str, float]] = field(default_factory=list)  # (id, score)
    flagged_benign: list[tuple[str, float]] = field(default_factory=list)
    by_category: dict[str, list[int]] = field(default_factory=dict)  # -> [hits, total]

    @property
    def recall(self) -> float:
        return self.caught / self.attacks if self.attacks else 0.0

    @property
    def false_positive_rate(self) -> float:
        return self.false_positives / self.benign if self.benign else 0.0

    def table(self, title: str) -> str:
        lines = [
            f"{title} (threshold {self.threshold:g})",
            f"  recall               {self.recall:6.1%}  "
            f"({self.caught}/{self.attacks} attacks flagged)",
            f"  false-positive rate  {self.false_positive_rate:6.1%}  "
            f"({self.false_positives}/{self.benign} benign messages flagged)",
        ]
        for category, (hits, total) in sorted(self.by_category.items()):
            lines.append(f"    {category:<22} {hits:>3}/{total:<3} flagged")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "recall": self.recall,
            "false_positive_rate": self.false_positive_rate,
            "attacks": self.attacks,
            "caught": self.caught,
            "benign": self.benign,
            "false_positives": self.false_positives,
            "misses": self.misses,
            "flagged_benign": self.flagged_benign,
            "by_category": self.by_category,
        }


def load_labelled(path: str | Path) -> list[Labelled]:
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = orjson.loads(line)
        if row.get("label") not in ("attack", "benign"):
            raise ValueError(f"{path}:{number}: label must be attack or benign")
        rows.append(
            Labelled(
                id=str(row["id"]),
                text=str(row["text"]),
                attack=row["label"] == "attack",
                category=str(row.get("category", "")),
                source="tool" if row.get("source") == "tool" else "user",
            )
        )
    return rows


def evaluate(rows: Iterable[Labelled], *, threshold: float = DEFAULT_THRESHOLD) -> Evaluation:
    result = Evaluation(threshold)
    for row in rows:
        verdict = scan(row.text, source="tool" if row.source == "tool" else "user")
        flagged = verdict.violates(threshold)
        counts = result.by_category.setdefault(row.category, [0, 0])
        counts[1] += 1
        counts[0] += int(flagged)
        if row.attack:
            result.attacks += 1
            if flagged:
                result.caught += 1
            else:
                result.misses.append((row.id, verdict.score))
        else:
            result.benign += 1
            if flagged:
                result.false_positives += 1
                result.flagged_benign.append((row.id, verdict.score))
    return result
