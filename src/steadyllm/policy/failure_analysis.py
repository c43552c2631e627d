"""Why conversations failed: keyword patterns over their text, counted. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PATTERNS", "FailedConversation", "FailureAnalysis", "analyze_failures"]

PATTERNS: dict[str, re.Pattern[str]] = {
    "pricing": re.compile(r"\b(price|pricing|cost|expensive|fee|how much|\$)", re.I),
    "availability": re.compile(r"\b(availab\w*|no slots?|fully booked|schedule|time slot)", re.I),
    "unclear_response": re.compile(
        r"\b(unclear|confus\w*|don'?t understand|what do you mean)", re.I
    ),
    "technical_error": re.compile(r"\b(error|failed|timeout|crash\w*|broken|exception)", re.I),
}


@dataclass(frozen=True, slots=True)
class FailedConversation:
    text: str  # the conversation (or its feedback) as one string
    messages: int


@dataclass(frozen=True, slots=True)
class FailureAnalysis:
    total: int
    counts: dict[str, int]
    shares: dict[str, float]
    avg_messages_before_failure: float

    def to_json(self) -> dict[str, object]:
        return {
            "totalFailures": self.total,
            "patterns": {
                name: {"count": self.counts[name], "share": self.shares[name]}
                for name in self.counts
            },
            "avgMessagesBeforeFailure": self.avg_messages_before_failure,
        }


def analyze_failures(failures: Sequence[FailedConversation]) -> FailureAnalysis:
    """Count each pattern once per conversation; a conversation may match several."""
    counts = {name: 0 for name in [*PATTERNS, "other"]}
    for failure in failures:
        matched = [name for name, pattern in PATTERNS.items() if pattern.search(failure.text)]
        for name in matched or ["other"]:
            counts[name] += 1
    total = len(failures)
    shares = {name: (count / total if total else 0.0) for name, count in counts.items()}
    average = sum(f.messages for f in failures) / total if total else 0.0
    return FailureAnalysis(total, counts, shares, average)
