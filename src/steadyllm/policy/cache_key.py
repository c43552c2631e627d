"""The cache key: SHA-256 of a canonical form of the request.

Two requests get the same key only when everything that can change the answer is
the same: the tenant, the model, the variant, every parameter, and the messages
after normalization. The normalization (also in ``docs/CACHE.md``):

- message text: leading and trailing whitespace trimmed, every run of whitespace
  (spaces, tabs, newlines) collapsed to one space. Case and punctuation are kept:
  they can change an answer ("reply in CAPS", code).
- content given as parts: each text part normalized as above, other parts (images,
  audio, files) kept verbatim; a list holding exactly one text part equals the
  plain string.
- every other message field (``role``, ``name``, ``tool_calls``,
  ``tool_call_id``, ...) kept verbatim.
- parameters: every body field except ``model``, ``messages`` and the few that only
  change how the answer is delivered (``stream``, ``stream_options``), who is
  billed for it (``user``) or what is recorded (``metadata``). So
  ``temperature``, ``top_p``, ``max_tokens``, ``max_completion_tokens``, ``tools``,
  ``tool_choice``, ``response_format``, ``seed``, ``stop``, ``n``, the penalties,
  ``logit_bias``, ``logprobs`` and any provider-specific extra are all in the key.
  A number that is whole is written as an integer (``0.0`` and ``0`` agree).
- JSON with sorted keys, compact separators, UTF-8.

``scope`` is the hash of everything except the tenant and the last message: the
model, the variant, the parameters, the conversation before the last turn, and
whether that last turn is a plain-text user message.
Semantic matching compares only entries of one tenant and one scope, so a
paraphrase can only stand in for the last user message, never for a different
system prompt, history or parameter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "DELIVERY_FIELDS",
    "RequestKey",
    "canonical_message",
    "normalize_text",
    "request_key",
]

KEY_VERSION = 1

# Body fields that never change the answer's content.
DELIVERY_FIELDS = frozenset({"model", "messages", "stream", "stream_options", "user", "metadata"})


def normalize_text(text: str) -> str:
    """Trim, and collapse every run of whitespace to one space."""
    return " ".join(text.split())


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _content(content: Any) -> Any:
    if isinstance(content, str):
        return normalize_text(content)
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                text = part.get("text")
                extra = {k: v for k, v in part.items() if k not in ("type", "text")}
                parts.append(
                    {
                        "type": "text",
                        "text": normalize_text(text) if isinstance(text, str) else text,
                        **_canonical(extra),
                    }
                )
            else:
                parts.append(_canonical(part))
        if len(parts) == 1 and set(parts[0]) == {"type", "text"}:
            return parts[0]["text"]
        return parts
    return _canonical(content)


def canonical_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """One message with its text normalized and its other fields canonical."""
    out: dict[str, Any] = {}
    for name, value in message.items():
        out[str(name)] = _content(value) if name == "content" else _canonical(value)
    return out


def _text_of(content: Any) -> str | None:
    """The text of a message's content, or ``None`` when it has other parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(
        isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        for p in content
    ):
        return " ".join(str(p["text"]) for p in content)
    return None


def _sha256(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class RequestKey:
    """What the cache needs to know about one request."""

    key: str  # SHA-256 hex of tenant + scope + last message
    scope: str  # SHA-256 hex of model, variant, parameters and earlier messages
    user_message: str  # the last user message's text, normalized ("" if none)
    semantic: bool  # the last message is a plain-text user message: paraphrases may match


def request_key(body: Mapping[str, Any], *, tenant: str, variant: str | None) -> RequestKey:
    """The key, scope and user message of an OpenAI chat request body."""
    messages = body.get("messages")
    canonical = (
        [canonical_message(m) for m in messages if isinstance(m, Mapping)]
        if isinstance(messages, list)
        else []
    )
    params = {
        str(name): _canonical(value)
        for name, value in body.items()
        if name not in DELIVERY_FIELDS and value is not None
    }
    context = canonical[:-1]
    last = canonical[-1] if canonical else None
    semantic = (
        last is not None and last.get("role") == "user" and isinstance(last.get("content"), str)
    )
    scope = _sha256(
        {
            "v": KEY_VERSION,
            "model": str(body.get("model", "")),
            "variant": variant,
            "params": params,
            "context": context,
            # Entries that end in a tool result (say) share no scope with questions, so
            # a paraphrase can never be matched against them.
            "semantic": semantic,
        }
    )
    key = _sha256({"v": KEY_VERSION, "tenant": tenant, "scope": scope, "last": last})
    user_message = ""
    for message in reversed(canonical):
        if message.get("role") == "user":
            user_message = _text_of(message.get("content")) or ""
            break
    return RequestKey(key=key, scope=scope, user_message=user_message, semantic=semantic)
