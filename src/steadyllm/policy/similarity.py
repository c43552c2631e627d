"""How alike two queries are: Jaccard over word sets, and cosine over embeddings.

``word_set`` lower-cases the text, drops apostrophes (``don't`` -> ``dont``),
splits on everything that is not a letter or a digit, and leaves out a short list
of filler words (articles, greetings, "please") that never change what is asked.
Words that can change it (``not``, numbers, pronouns) stay in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

__all__ = ["FILLER_WORDS", "cosine", "jaccard", "tokens", "word_set"]

_APOSTROPHES = re.compile(r"['\u2019`]")
_WORD = re.compile(r"[a-z0-9]+")

FILLER_WORDS = frozenset(
    {
        "a",
        "an",
        "the",
        "please",
        "pls",
        "plz",
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "thx",
        "kindly",
        "just",
        "um",
        "uh",
        "ok",
        "okay",
        "so",
    }
)


def tokens(text: str) -> list[str]:
    """The lower-case words of ``text``, in order, fillers included."""
    return _WORD.findall(_APOSTROPHES.sub("", text.lower()))


def word_set(text: str) -> frozenset[str]:
    """The set of words Jaccard compares (fillers left out)."""
    return frozenset(w for w in tokens(text) if w not in FILLER_WORDS)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """The size of the intersection over the size of the union; 1.0 for two empty sets."""
    if not a and not b:
        return 1.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """The cosine of the angle between two vectors; 0.0 when either is zero."""
    if len(a) != len(b):
        raise ValueError(f"vectors of different lengths: {len(a)} and {len(b)}")
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return 0.0 if norm == 0 else dot / norm
