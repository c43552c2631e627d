"""The simulator's tokenizer: a word or a single punctuation mark is one token.

The rule is ``re.findall(r"\\w+|[^\\w\\s]", text)``: runs of word characters, and every
other non-space character on its own. Whitespace is never a token. It is not any
real model's tokenizer; it is simple enough that a test can count tokens by hand
and every usage figure the simulator reports can be checked exactly.
"""

from __future__ import annotations

import re

__all__ = ["count_tokens", "pieces", "tokenize", "truncate_tokens"]

_TOKEN = re.compile(r"\w+|[^\w\s]")
# A token with the whitespace before it: joined, the pieces give back the text.
_PIECE = re.compile(r"\s*(?:\w+|[^\w\s])")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


def count_tokens(text: str) -> int:
    return sum(1 for _ in _TOKEN.finditer(text))


def pieces(text: str) -> list[str]:
    """Split ``text`` into one piece per token, keeping every character.

    Leading whitespace goes with the token after it and trailing whitespace with
    the last piece, so ``"".join(pieces(t)) == t`` and ``len(pieces(t))`` equals
    ``count_tokens(t)`` for any text holding at least one token.
    """
    found = _PIECE.findall(text)
    if not found:
        return [text] if text else []
    tail = text[sum(len(piece) for piece in found) :]
    if tail:
        found[-1] += tail
    return found


def truncate_tokens(text: str, limit: int) -> str:
    """The longest prefix of ``text`` holding at most ``limit`` tokens."""
    if limit <= 0:
        return ""
    for count, match in enumerate(_TOKEN.finditer(text), start=1):
        if count == limit:
            return text[: match.end()]
    return text
