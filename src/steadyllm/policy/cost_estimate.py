"""A call's tokens and cost, estimated from its request before it is sent.

Reservations (token and dollar limits) take the estimate before the call and settle
the difference after, so the estimate should err high: an estimate under the actual
figure is the most a concurrent burst can overspend by. Input is counted at three
characters a token (real tokenizers average about four on English) plus four tokens
of framing per message; output is ``max_completion_tokens`` / ``max_tokens`` when the
request sets one, else a configured default, times ``n``. Text dense with
punctuation or digits is counted as a word or mark a token when that is more.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from steadyllm.call import Price

__all__ = ["Estimate", "estimate_call"]

CHARS_PER_TOKEN = 3
MESSAGE_OVERHEAD = 4
NON_TEXT_PART_TOKENS = 1000  # an image or audio part: a generous flat figure
_PIECES = re.compile(r"\w+|[^\w\s]")  # a word, or one mark


@dataclass(frozen=True, slots=True)
class Estimate:
    input_tokens: int
    output_tokens: int
    cost: float  # USD at the highest price the call may be served at; 0 if none is known

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def _text_tokens(text: str) -> int:
    by_length = -(-len(text) // CHARS_PER_TOKEN)
    return max(by_length, sum(1 for _ in _PIECES.finditer(text)))


def _content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return _text_tokens(content)
    if isinstance(content, list):
        total = 0
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                total += _text_tokens(part["text"])
            else:
                total += NON_TEXT_PART_TOKENS
        return total
    return 0


def _chat_input(body: Mapping[str, Any]) -> int:
    total = 0
    for message in body.get("messages") or ():
        if not isinstance(message, Mapping):
            continue
        total += MESSAGE_OVERHEAD + _content_tokens(message.get("content"))
        for call in message.get("tool_calls") or ():
            total += _text_tokens(str(call))
    tools = body.get("tools")
    if tools:
        total += _text_tokens(str(tools))
    return total


def _embeddings_input(body: Mapping[str, Any]) -> int:
    value = body.get("input")
    if isinstance(value, str):
        return _text_tokens(value)
    total = 0
    for item in value if isinstance(value, list) else ():
        if isinstance(item, str):
            total += _text_tokens(item)
        elif isinstance(item, list):
            total += len(item)  # already tokens
        else:
            total += 1
    return total


def estimate_call(
    kind: str, body: Mapping[str, Any], price: Price | None, *, default_output_tokens: int
) -> Estimate:
    if kind == "embeddings":
        input_tokens, output_tokens = _embeddings_input(body), 0
    else:
        input_tokens = _chat_input(body)
        asked = body.get("max_completion_tokens") or body.get("max_tokens")
        per_choice = asked if isinstance(asked, int) and asked > 0 else default_output_tokens
        choices = body.get("n")
        output_tokens = per_choice * (choices if isinstance(choices, int) and choices > 0 else 1)
    cost = price.cost(input_tokens, output_tokens) if price is not None else 0.0
    return Estimate(input_tokens, output_tokens, cost)
