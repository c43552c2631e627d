"""Repair of almost-JSON answers: pure, and deliberately conservative.

What is repaired, in order:

1. a Markdown code fence around the JSON (```json ... ```);
2. text around the JSON ("Sure! Here it is: {...} Let me know"): the first
   balanced object or array is taken;
3. inside it, outside strings: trailing commas, comments (``//``, ``/* */``),
   single-quoted strings, Python literals (``True``, ``False``, ``None``), unquoted
   keys, and typographic quotes used as string delimiters.

What is not: a truncated answer (an unclosed string, object or array). Closing it
would present a cut answer as a whole one, so :func:`repair_json` gives up and the
caller re-asks or fails over instead. Libraries such as ``json-repair`` do complete
such text, which is why this module exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["Repair", "extract_json", "repair_json"]

_FENCE = re.compile(r"```[ \t]*(?:json|JSON|javascript|js)?[ \t]*\n?(.*?)```", re.DOTALL)
_CURLY = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_LITERALS = {"True": "true", "False": "false", "None": "null", "true": "true", "false": "false",
             "null": "null"}  # fmt: skip
_MAX_LENGTH = 1_000_000
_MAX_CANDIDATES = 16


@dataclass(frozen=True, slots=True)
class Repair:
    """A repaired answer: the JSON text, its value, and what was done to it."""

    text: str
    value: Any
    steps: tuple[str, ...]


def _loads(text: str) -> tuple[bool, Any]:
    try:
        return True, orjson.loads(text)
    except orjson.JSONDecodeError:
        return False, None


def extract_json(text: str) -> str | None:
    """The first balanced ``{...}`` or ``[...]`` in ``text`` that is JSON (or None)."""
    for candidate in _candidates(text):
        if _loads(candidate)[0]:
            return candidate
    return None


def _candidates(text: str) -> list[str]:
    """Balanced ``{...}`` / ``[...]`` spans of ``text``, in order of their start (bounded)."""
    found: list[str] = []
    for start, char in enumerate(text):
        if char in "{[":
            end = _balanced_end(text, start)
            if end is not None:
                found.append(text[start : end + 1])
                if len(found) >= _MAX_CANDIDATES:
                    break
    return found


def _balanced_end(text: str, start: int) -> int | None:
    depth = 0
    quote: str | None = None
    escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
            continue
        if char in "\"'":
            quote = char
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index
    return None


def _normalize(text: str) -> str:
    """Rewrite JSON-ish ``text`` into JSON where the fixes above apply (one pass)."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char in "\"'":
            i = _copy_string(text, i, out)
            continue
        if char == "/" and i + 1 < n and text[i + 1] == "/":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if char == "/" and i + 1 < n and text[i + 1] == "*":
            close = text.find("*/", i + 2)
            i = n if close == -1 else close + 2
            continue
        if char == ",":
            j = i + 1
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j < n and text[j] in "}]":
                i += 1  # trailing comma
                continue
        if char.isalpha() or char == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_$"):
                j += 1
            word = text[i:j]
            k = j
            while k < n and text[k] in " \t":
                k += 1
            if k < n and text[k] == ":":
                out.append(orjson.dumps(word).decode())  # an unquoted key
            else:
                out.append(_LITERALS.get(word, word))
            i = j
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _copy_string(text: str, start: int, out: list[str]) -> int:
    """Copy the string starting at ``start`` as a double-quoted JSON string."""
    quote = text[start]
    i = start + 1
    chars: list[str] = []
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "'" and quote == "'":
                chars.append("'")
            else:
                chars.append(char + nxt)
            i += 2
            continue
        if char == quote:
            break
        if char == '"' and quote == "'":
            chars.append('\\"')
        elif char == "\n":
            chars.append("\\n")
        else:
            chars.append(char)
        i += 1
    out.append('"' + "".join(chars) + '"')
    return i + 1


def repair_json(text: str) -> Repair | None:
    """``text`` as JSON if the fixes described above make it parse; None otherwise."""
    if len(text) > _MAX_LENGTH:
        return None
    steps: list[str] = []
    candidate = text.strip().lstrip("\ufeff")
    ok, value = _loads(candidate)
    if ok:
        return Repair(candidate, value, ())
    fence = _FENCE.search(candidate)
    if fence is not None:
        candidate = fence.group(1).strip()
        steps.append("code_fence")
        ok, value = _loads(candidate)
        if ok:
            return Repair(candidate, value, tuple(steps))
    whole = candidate.startswith(("{", "[")) and candidate.endswith(("}", "]"))
    options = [candidate] if whole else _candidates(candidate.translate(_CURLY))
    if not whole:
        steps.append("extracted")
    for option in options:
        ok, value = _loads(option)
        if ok:
            return Repair(option, value, tuple(steps))
    for option in options:
        fixed = _normalize(option.translate(_CURLY))
        ok, value = _loads(fixed)
        if ok and isinstance(value, dict | list):
            return Repair(fixed, value, (*steps, "syntax"))
    return None
