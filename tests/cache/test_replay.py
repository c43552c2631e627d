"""Streams add up to bodies, and bodies replay as streams of the same shape."""

from __future__ import annotations

from typing import Any

from steadyllm.cache.lru import LocalCache
from steadyllm.cache.replay import assemble, replay_chunks
from steadyllm.stores.base import CacheEntry

USAGE = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}


def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
    }


def test_assemble_text_and_tool_calls_of_two_choices() -> None:
    chunks = [
        chunk(0, {"role": "assistant", "content": ""}),
        chunk(0, {"content": "Hel"}),
        chunk(0, {"content": "lo"}),
        chunk(0, {}, "stop"),
        chunk(1, {"role": "assistant", "content": ""}),
        chunk(
            1,
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "t1",
                        "type": "function",
                        "function": {"name": "book", "arguments": ""},
                    }
                ]
            },
        ),
        chunk(1, {"tool_calls": [{"index": 0, "function": {"arguments": '{"day":'}}]}),
        chunk(1, {"tool_calls": [{"index": 0, "function": {"arguments": '"fri"}'}}]}),
        chunk(1, {}, "tool_calls"),
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [],
            "usage": USAGE,
        },
    ]
    body = assemble(chunks, None)
    assert body["object"] == "chat.completion"
    assert body["usage"] == USAGE
    first, second = body["choices"]
    assert first["message"] == {"role": "assistant", "content": "Hello", "refusal": None}
    assert first["finish_reason"] == "stop"
    assert second["message"]["content"] is None
    assert second["message"]["tool_calls"] == [
        {"id": "t1", "type": "function", "function": {"name": "book", "arguments": '{"day":"fri"}'}}
    ]
    assert second["finish_reason"] == "tool_calls"


def test_replay_adds_up_to_the_same_body() -> None:
    body = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "system_fingerprint": "fp",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            },
            {
                "index": 1,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "tool_calls": [
                        {
                            "id": "t1",
                            "type": "function",
                            "function": {"name": "book", "arguments": "{}"},
                        }
                    ],
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            },
        ],
        "usage": USAGE,
    }
    chunks = replay_chunks(body)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == USAGE
    assert all(c["usage"] is None for c in chunks[:-1])
    assert assemble(chunks, None) == body


def entry(key: str, variant: str | None = None, expires_at: float = 100.0) -> CacheEntry:
    return CacheEntry(
        key=key,
        tenant="t",
        scope="s",
        model="m",
        variant=variant,
        user_message="q",
        response={},
        expires_at=expires_at,
    )


def test_l1_is_a_bounded_lru_with_reread_and_retention() -> None:
    l1 = LocalCache(max_entries=2, l1_ttl=10)
    l1.put(entry("a"), fresh_until=50, now=0)
    l1.put(entry("b"), fresh_until=50, now=0)
    assert l1.get("a", now=1) is not None  # a is now the most recent
    l1.put(entry("c"), fresh_until=50, now=1)
    assert l1.get("b", now=1) is None
    assert len(l1) == 2
    item = l1.get("a", now=5)
    assert item is not None
    assert item.fresh(5)
    assert l1.get("a", now=10) is None  # past l1_ttl: re-read from L2


def test_l1_keeps_stale_items_until_their_retention() -> None:
    l1 = LocalCache(max_entries=10, l1_ttl=1000)
    l1.put(entry("a", expires_at=100), fresh_until=50, now=0)
    item = l1.get("a", now=60)
    assert item is not None
    assert not item.fresh(60)
    assert l1.get("a", now=100) is None


def test_l1_clear_by_variant_and_freshness() -> None:
    l1 = LocalCache(max_entries=10, l1_ttl=1000)
    l1.put(entry("a", "x"), fresh_until=50, now=0)
    l1.put(entry("b", "y"), fresh_until=80, now=0)
    assert l1.clear(variant="x") == 1
    assert l1.clear(fresh_before=60) == 0
    assert l1.clear(fresh_before=80) == 1
    assert len(l1) == 0
