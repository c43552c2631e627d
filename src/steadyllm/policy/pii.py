"""Personal data in text: e-mail addresses, phone numbers, payment card numbers.

Pure and precompiled. Card numbers must pass the Luhn check (13 to 19 digits), so
an order number or a date does not look like one; phone numbers need 9 to 15
digits, so times, dates, prices and booking references do not either.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["PII_KINDS", "PiiKind", "PiiMatch", "find_pii", "luhn_valid", "redact_pii"]

PiiKind = Literal["email", "phone", "card"]
PII_KINDS: tuple[PiiKind, ...] = ("email", "phone", "card")

_EMAIL = re.compile(
    r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])"
)
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,5}\)[\s.-]?)?\d{2,5}(?:[\s.-]?\d{2,5}){1,4}(?![\w])"
)
_DATE_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}")


@dataclass(frozen=True, slots=True)
class PiiMatch:
    kind: PiiKind
    start: int
    end: int


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def find_pii(text: str, kinds: Iterable[PiiKind] = PII_KINDS) -> list[PiiMatch]:
    """Every match of ``kinds`` in ``text``, in order, never overlapping."""
    wanted = set(kinds)
    found: list[PiiMatch] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    if "email" in wanted and "@" in text:
        for match in _EMAIL.finditer(text):
            found.append(PiiMatch("email", *match.span()))
            taken.append(match.span())
    has_digits = any(c.isdigit() for c in text)
    if "card" in wanted and has_digits:
        for match in _CARD.finditer(text):
            digits = _digits(match.group(0))
            if 13 <= len(digits) <= 19 and luhn_valid(digits) and free(*match.span()):
                found.append(PiiMatch("card", *match.span()))
                taken.append(match.span())
    if "phone" in wanted and has_digits:
        for match in _PHONE.finditer(text):
            digits = _digits(match.group(0))
            if not 9 <= len(digits) <= 15 or not free(*match.span()):
                continue
            if _DATE_LIKE.fullmatch(match.group(0).strip()):
                continue
            found.append(PiiMatch("phone", *match.span()))
            taken.append(match.span())
    found.sort(key=lambda m: m.start)
    return found


def redact_pii(
    text: str, kinds: Iterable[PiiKind] = PII_KINDS, *, template: str = "[{kind}]"
) -> tuple[str, Counter[str]]:
    """``text`` with each match replaced by ``template`` (``[email]``, ...), and the counts."""
    matches = find_pii(text, kinds)
    counts: Counter[str] = Counter(m.kind for m in matches)
    if not matches:
        return text, counts
    out = []
    last = 0
    for match in matches:
        out.append(text[last : match.start])
        out.append(template.format(kind=match.kind))
        last = match.end
    out.append(text[last:])
    return "".join(out), counts
