"""Pieces both directions of the Anthropic translation share. No I/O.

The translations themselves live in :mod:`steadyllm.translate.anthropic_inbound` (the
``/v1/messages`` endpoint) and :mod:`steadyllm.translate.anthropic_outbound` (the
``anthropic`` provider).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeGuard

import orjson

__all__ = [
    "dumps",
    "is_int",
    "is_number",
    "openai_text",
    "token_count",
    "tool_arguments",
    "tool_use_blocks",
]


def openai_text(content: Any) -> str:
    """The text of OpenAI message content: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return ""


def tool_arguments(text: Any) -> dict[str, Any]:
    """Tool-call arguments as the object Anthropic requires; unreadable ones become {}."""
    if isinstance(text, Mapping):
        return dict(text)
    if not isinstance(text, str) or not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def tool_use_blocks(tool_calls: Any) -> list[dict[str, Any]]:
    """OpenAI ``tool_calls`` of an assistant message as Anthropic ``tool_use`` blocks."""
    blocks: list[dict[str, Any]] = []
    for position, call in enumerate(tool_calls or ()):
        if not isinstance(call, Mapping):
            continue
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{position}",
                "name": function.get("name") or "",
                "input": tool_arguments(function.get("arguments")),
            }
        )
    return blocks


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def token_count(value: Any) -> int:
    return int(value) if is_number(value) and 0 < value < math.inf else 0


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
