"""When a request should skip a deployment or change model: context window, content policy.

Pure: it reads the request body and the failure's fields. Token counts are an
estimate (about four characters per token, the usual rule of thumb for English and
code), used only to keep a request that plainly does not fit away from a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "CHARS_PER_TOKEN",
    "estimate_request_tokens",
    "fits_context",
    "is_content_filtered",
    "is_content_policy_error",
    "is_context_length_error",
]

CHARS_PER_TOKEN = 4
_MESSAGE_OVERHEAD = 4  # role and separators per message
_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
_CONTEXT_PHRASES = ("maximum context length", "context window", "context length", "too many tokens")
_POLICY_CODES = frozenset({"content_policy_violation", "content_filter", "content_filtered"})
_POLICY_PHRASES = ("content management policy", "content policy", "content filter")


def _text_length(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        total = 0
        for part in content:
            if isinstance(part, Mapping):
                text = part.get("text")
                if isinstance(text, str):
                    total += len(text)
            elif isinstance(part, str):
                total += len(part)
        return total
    return 0


def estimate_request_tokens(body: Mapping[str, Any]) -> int:
    """Tokens the request needs: its messages plus the answer it asks room for."""
    characters = 0
    messages = body.get("messages")
    count = 0
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, Mapping):
                count += 1
                characters += _text_length(message.get("content"))
    tools = body.get("tools")
    if isinstance(tools, list):
        characters += len(repr(tools))
    prompt = -(-characters // CHARS_PER_TOKEN) + count * _MESSAGE_OVERHEAD
    answer = body.get("max_completion_tokens") or body.get("max_tokens") or 0
    return prompt + (answer if isinstance(answer, int) and answer > 0 else 0)


def fits_context(needed_tokens: int, context_window: int | None) -> bool:
    return context_window is None or needed_tokens <= context_window


def _matches(
    code: str | None, message: str, codes: frozenset[str], phrases: tuple[str, ...]
) -> bool:
    if code is not None and code in codes:
        return True
    lowered = message.lower()
    return any(phrase in lowered for phrase in phrases)


def is_context_length_error(status: int | None, code: str | None, message: str) -> bool:
    """The upstream refused the request as longer than the model's context window."""
    return status in (400, 413, 422) and _matches(code, message, _CONTEXT_CODES, _CONTEXT_PHRASES)


def is_content_policy_error(status: int | None, code: str | None, message: str) -> bool:
    """The upstream refused the request under its content policy."""
    return status in (400, 403, 422) and _matches(code, message, _POLICY_CODES, _POLICY_PHRASES)


def is_content_filtered(body: Mapping[str, Any] | None) -> bool:
    """A completed answer whose every choice was stopped by the content filter."""
    if not body:
        return False
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    return all(
        isinstance(choice, Mapping) and choice.get("finish_reason") == "content_filter"
        for choice in choices
    )
