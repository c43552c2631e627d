"""Query classification for routing: simple queries to a cheap model (pure).

The default classifier scores features of the last user message (length, question
type, keywords, code, several questions); any object with ``classify(text) -> str``
can replace it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

__all__ = ["QueryClassifier", "RuleClassifier", "last_user_text"]

_SIMPLE_START = re.compile(
    r"^\s*(what|when|where|who|is|are|do|does|can|hi|hello|thanks|thank you)\b", re.I
)
_COMPLEX_WORDS = re.compile(
    r"\b(why|explain|compare|analy[sz]e|design|prove|derive|optimi[sz]e|step[- ]by[- ]step|"
    r"trade-?offs?|architecture|debug|refactor|plan)\b",
    re.I,
)
_CODE = re.compile(r"```|\bdef |\bclass |;\s*$|\{\s*$", re.M)


class QueryClassifier(Protocol):
    def classify(self, text: str) -> str:
        """A class name, e.g. ``"simple"`` or ``"complex"``."""
        ...


@dataclass(frozen=True, slots=True)
class RuleClassifier:
    """Scores features; ``complex`` at or above ``threshold``."""

    long_chars: int = 400
    threshold: int = 2

    def score(self, text: str) -> int:
        score = 0
        if len(text) >= self.long_chars:
            score += 2
        if _COMPLEX_WORDS.search(text):
            score += 2
        if _CODE.search(text):
            score += 2
        if text.count("?") >= 2:
            score += 1
        if _SIMPLE_START.match(text) and len(text) < 120:
            score -= 1
        return score

    def classify(self, text: str) -> str:
        return "complex" if self.score(text) >= self.threshold else "simple"


def last_user_text(messages: object) -> str:
    """The text of the last user message of an OpenAI ``messages`` list."""
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    str(part.get("text", "")) for part in content if isinstance(part, dict)
                )
    return ""
