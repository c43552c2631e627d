"""Estimates err high: what a reservation takes before the call."""

from __future__ import annotations

from typing import Any

import pytest

from steadyllm.call import Price
from steadyllm.policy.cost_estimate import estimate_call
from steadyllm.sim.openai_chat import chat_prompt

PRICE = Price(input_per_million=1.0, output_per_million=2.0)


@pytest.mark.parametrize(
    ("body", "input_tokens", "output_tokens"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, 5, 100),
        ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 7}, 5, 7),
        ({"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 9}, 5, 9),
        ({"messages": [{"role": "user", "content": "abcdef"}], "max_tokens": 5, "n": 3}, 6, 15),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "abc"}]}]},
            5,
            100,
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            1004,
            100,
        ),
    ],
)
def test_chat_estimates(body: dict[str, Any], input_tokens: int, output_tokens: int) -> None:
    estimate = estimate_call("chat", body, PRICE, default_output_tokens=100)
    assert (estimate.input_tokens, estimate.output_tokens) == (input_tokens, output_tokens)
    assert estimate.cost == pytest.approx(PRICE.cost(input_tokens, output_tokens))


@pytest.mark.parametrize(
    ("value", "tokens"), [("abcdefg", 3), (["ab", "cd"], 2), ([[1, 2, 3], [4]], 4)]
)
def test_embeddings_estimates(value: Any, tokens: int) -> None:
    estimate = estimate_call("embeddings", {"input": value}, PRICE, default_output_tokens=100)
    assert (estimate.input_tokens, estimate.output_tokens) == (tokens, 0)


def test_no_price_estimates_no_cost() -> None:
    body = {"messages": [{"role": "user", "content": "hi"}]}
    assert estimate_call("chat", body, None, default_output_tokens=10).cost == 0.0


@pytest.mark.parametrize(
    "text",
    ["hi", "Book a deep clean on Friday, please!", "a, b; c. d? e! (f) [g]", "x" * 500],
)
def test_estimate_is_not_under_the_simulators_count(text: str) -> None:
    body = {
        "model": "m",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}],
    }
    estimate = estimate_call("chat", body, None, default_output_tokens=1)
    assert estimate.input_tokens >= chat_prompt(body).input_tokens
