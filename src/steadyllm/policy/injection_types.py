"""Types of the prompt-injection rules: categories, rules, findings and verdicts.

Kept apart from :mod:`steadyllm.policy.injection` so that the rule table
(:mod:`steadyllm.policy.injection_rules`) can build :class:`Rule` values without
importing the scoring. Import these names from :mod:`steadyllm.policy.injection`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DEFAULT_THRESHOLD",
    "Category",
    "Finding",
    "Rule",
    "Source",
    "Verdict",
    "ViolationType",
]

Category = Literal[
    "override",  # "ignore previous instructions"
    "persona",  # role-play jailbreaks, "developer mode"
    "extraction",  # asking for the system prompt
    "spoofing",  # chat-template tokens, fake system headers
    "indirect",  # text addressed to the model inside data (tool results, pages)
    "encoding",  # instructions to decode and follow a payload
    "obfuscation",  # signals of hiding: zero-width splits, homoglyphs, encoded layers
]
ViolationType = Literal["prompt_injection", "jailbreak", "prompt_extraction"]
Source = Literal["user", "tool"]

DEFAULT_THRESHOLD = 0.5

_VIOLATION: dict[str, ViolationType] = {
    "override": "prompt_injection",
    "spoofing": "prompt_injection",
    "indirect": "prompt_injection",
    "encoding": "prompt_injection",
    "obfuscation": "prompt_injection",
    "persona": "jailbreak",
    "extraction": "prompt_extraction",
}


@dataclass(frozen=True, slots=True)
class Rule:
    """A pattern, and the words (or substrings) without which it cannot match.

    The anchors are a prefilter: a rule runs only on a layer holding one of its
    words or substrings, which keeps a benign message to a few set look-ups.
    """

    name: str
    category: Category
    weight: float
    pattern: re.Pattern[str]
    words: frozenset[str] = frozenset()
    substrings: tuple[str, ...] = ()
    also: frozenset[str] = frozenset()  # a second group: one of these words must occur too


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule (or signal) that matched, in the layer where it matched first."""

    rule: str
    category: Category
    weight: float
    layer: str  # "text", "leetspeak", "spaced", "rot13", "reversed", "base64", ...
    excerpt: str  # the matched text, in that layer (bounded)


@dataclass(frozen=True, slots=True)
class Verdict:
    score: float
    findings: tuple[Finding, ...]

    def violates(self, threshold: float = DEFAULT_THRESHOLD) -> bool:
        return self.score >= threshold

    @property
    def violation_type(self) -> ViolationType | None:
        """The kind of attack, from the strongest finding that is not a mere signal."""
        ranked = sorted(self.findings, key=lambda f: f.weight, reverse=True)
        for finding in ranked:
            if finding.category != "obfuscation":
                return _VIOLATION[finding.category]
        return _VIOLATION[ranked[0].category] if ranked else None

    @property
    def rule_names(self) -> tuple[str, ...]:
        return tuple(f.rule for f in self.findings)
