"""The cache key: normalization, parameter sensitivity, tenant and variant scoping."""

from __future__ import annotations

from typing import Any

import pytest

from steadyllm.policy.cache_key import normalize_text, request_key

BASE: dict[str, Any] = {
    "model": "fast",
    "messages": [
        {"role": "system", "content": "You book cleanings."},
        {"role": "user", "content": "How much is a deep clean?"},
    ],
    "temperature": 0,
}


def key_of(body: dict[str, Any], tenant: str = "default", variant: str | None = None) -> str:
    return request_key(body, tenant=tenant, variant=variant).key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  hello   world ", "hello world"),
        ("a\tb\nc", "a b c"),
        ("Case Kept!", "Case Kept!"),
        ("", ""),
    ],
)
def test_normalize_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    "change",
    [
        {
            "messages": [
                BASE["messages"][0],
                {"role": "user", "content": "  How much is a deep clean? "},
            ]
        },
        {
            "messages": [
                BASE["messages"][0],
                {"role": "user", "content": "How much  is a\ndeep clean?"},
            ]
        },
        {
            "messages": [
                BASE["messages"][0],
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "How much is a deep clean?"}],
                },
            ]
        },
        {"temperature": 0.0},
        {"stream": True},
        {"stream_options": {"include_usage": True}},
        {"user": "someone-else"},
    ],
)
def test_same_key(change: dict[str, Any]) -> None:
    assert key_of({**BASE, **change}) == key_of(BASE)


@pytest.mark.parametrize(
    "change",
    [
        {"model": "smart"},
        {"temperature": 0.1},
        {"top_p": 0.5},
        {"max_tokens": 50},
        {"max_completion_tokens": 50},
        {"tools": [{"type": "function", "function": {"name": "book"}}]},
        {"tool_choice": "none"},
        {"response_format": {"type": "json_object"}},
        {"seed": 7},
        {"stop": ["\n"]},
        {"n": 2},
        {"presence_penalty": 0.5},
        {"frequency_penalty": 0.5},
        {"logit_bias": {"50256": -100}},
        {"logprobs": True},
        {"some_provider_extra": {"safe_mode": True}},
        {
            "messages": [
                BASE["messages"][0],
                {"role": "user", "content": "how much is a deep clean?"},
            ]
        },
        {"messages": [{"role": "system", "content": "Be brief."}, BASE["messages"][1]]},
        {"messages": [BASE["messages"][1]]},
        {"messages": [BASE["messages"][0], {**BASE["messages"][1], "name": "maria"}]},
    ],
)
def test_answer_changing_parameters_change_the_key(change: dict[str, Any]) -> None:
    assert key_of({**BASE, **change}) != key_of(BASE)


def test_tenant_and_variant_change_the_key() -> None:
    assert key_of(BASE, tenant="acme") != key_of(BASE, tenant="globex")
    assert key_of(BASE, variant="a") != key_of(BASE, variant="b")
    assert key_of(BASE, variant=None) != key_of(BASE, variant="a")


def test_scope_covers_all_but_the_last_message_and_the_tenant() -> None:
    one = request_key(BASE, tenant="acme", variant=None)
    other_question = {
        **BASE,
        "messages": [BASE["messages"][0], {"role": "user", "content": "Is Tuesday free?"}],
    }
    two = request_key(other_question, tenant="acme", variant=None)
    assert one.scope == two.scope
    assert one.key != two.key
    assert request_key(BASE, tenant="globex", variant=None).scope == one.scope
    assert request_key({**BASE, "seed": 1}, tenant="acme", variant=None).scope != one.scope
    assert request_key(BASE, tenant="acme", variant="b").scope != one.scope
    assert one.user_message == "How much is a deep clean?"
    assert one.semantic


def test_semantic_only_when_the_last_message_is_a_plain_user_message() -> None:
    tool_turn = {
        **BASE,
        "messages": [
            *BASE["messages"],
            {"role": "assistant", "content": None, "tool_calls": []},
            {"role": "tool", "tool_call_id": "c1", "content": "{}"},
        ],
    }
    found = request_key(tool_turn, tenant="t", variant=None)
    assert not found.semantic
    question = {
        **tool_turn,
        "messages": [*tool_turn["messages"][:-1], {"role": "user", "content": "?"}],
    }
    assert request_key(question, tenant="t", variant=None).scope != found.scope
    assert found.user_message == "How much is a deep clean?"
    image = {
        **BASE,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:,"}},
                ],
            }
        ],
    }
    assert not request_key(image, tenant="t", variant=None).semantic
