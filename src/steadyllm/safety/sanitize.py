"""Stripping HTML and scripts from answer text: this module owns ``nh3``.

``nh3`` (the Rust ``ammonia`` sanitizer) removes every tag, and the content of
``script`` and ``style`` elements; entities it escaped are turned back into text,
and the result is cleaned again while it still holds something tag-like (an
entity-encoded ``&lt;script&gt;`` decodes to a tag). Text without a ``<`` followed
by a letter, ``/``, ``!`` or ``?`` is returned as is, without calling nh3: the
common case costs one regular-expression search.
"""

from __future__ import annotations

import html
import re
from typing import Any

import nh3

__all__ = ["StreamingStripper", "strip_html", "strip_html_values"]

_TAG_LIKE = re.compile(r"<[a-zA-Z/!?]")
_DROPPED_CONTENT = {"script", "style"}
_MAX_PASSES = 3
_HOLD_LIMIT = 1024  # a '<' not closed within this many characters is plain text


def strip_html(text: str) -> tuple[str, bool]:
    """``text`` without tags; whether anything changed."""
    if not _TAG_LIKE.search(text):
        return text, False
    cleaned = text
    for _ in range(_MAX_PASSES):
        cleaned = html.unescape(
            nh3.clean(cleaned, tags=set(), clean_content_tags=_DROPPED_CONTENT, strip_comments=True)
        )
        if not _TAG_LIKE.search(cleaned):
            break
    else:
        cleaned = cleaned.replace("<", "&lt;")  # still tag-like after every pass: defuse it
    return cleaned, cleaned != text


def strip_html_values(value: Any) -> tuple[Any, bool]:
    """``value`` (parsed JSON) with :func:`strip_html` applied to every string in it."""
    if isinstance(value, str):
        return strip_html(value)
    if isinstance(value, list):
        changed = False
        items = []
        for item in value:
            new, item_changed = strip_html_values(item)
            items.append(new)
            changed = changed or item_changed
        return (items, True) if changed else (value, False)
    if isinstance(value, dict):
        changed = False
        fields = {}
        for key, item in value.items():
            new, item_changed = strip_html_values(item)
            fields[key] = new
            changed = changed or item_changed
        return (fields, True) if changed else (value, False)
    return value, False


_OPEN_DROPPED = re.compile(r"<\s*(script|style)\b[^>]*>", re.IGNORECASE)


class StreamingStripper:
    """:func:`strip_html` for text that arrives in pieces.

    A piece is released once no tag in it can still be open: text from an unclosed
    ``<`` is held back (at most ``_HOLD_LIMIT`` characters). Inside a ``script`` or
    ``style`` element everything up to its closing tag is dropped.
    """

    def __init__(self) -> None:
        self._held = ""
        self._dropping: str | None = None  # the element whose content is being dropped
        self.changed = False

    def feed(self, piece: str) -> str:
        text = self._held + piece
        self._held = ""
        if self._dropping is not None:
            close = re.search(rf"</\s*{self._dropping}\s*>", text, re.IGNORECASE)
            if close is None:
                self._held = text[-(len(self._dropping) + 3) :]  # a closing tag may be split
                return ""
            text = text[close.end() :]
            self._dropping = None
        if "<" not in text:
            return text
        position = text.rfind("<")
        if (
            ">" not in text[position:]
            and len(text) - position < _HOLD_LIMIT
            and (position == len(text) - 1 or _TAG_LIKE.match(text, position))
        ):
            self._held = text[position:]
            text = text[:position]
        opened = None
        for match in _OPEN_DROPPED.finditer(text):
            rest = text[match.end() :]
            if not re.search(rf"</\s*{match.group(1)}\s*>", rest, re.IGNORECASE):
                opened = match
        if opened is not None:
            self._dropping = opened.group(1).lower()
            self._held = ""
            text = text[: opened.start()]
            self.changed = True
        cleaned, changed = strip_html(text)
        self.changed = self.changed or changed
        return cleaned

    def flush(self) -> str:
        held, self._held = self._held, ""
        if self._dropping is not None:
            self._dropping = None
            return ""
        cleaned, changed = strip_html(held)
        self.changed = self.changed or changed
        return cleaned
