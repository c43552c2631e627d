"""The simulator's engine: deterministic, labelled, countable answers in both formats."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import jsonschema
import pytest

from steadyllm.sim.engine import (
    ECHO_SYSTEM_MARKER,
    INVALID_JSON_MARKER,
    LABEL,
    MESSAGE_OVERHEAD,
    SimRequestError,
    chat_chunks,
    chat_reply,
    count_tokens,
    embed_text,
    embeddings_reply,
    messages_events,
    messages_reply,
    tokenize,
)
from steadyllm.sim.schema_values import example_value
from steadyllm.sim.tokenizer import pieces, truncate_tokens

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 2},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "days"],
            "additionalProperties": False,
        },
    },
}


def chat(text: str = "What is the capital of France?", **extra: Any) -> dict[str, Any]:
    return {
        "model": "sim-fast",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": text},
        ],
        **extra,
    }


def text_of(reply: dict[str, Any], index: int = 0) -> str:
    content = reply["choices"][index]["message"]["content"]
    assert isinstance(content, str)
    return content


# --- tokenizer -----------------------------------------------------------------------------


def test_tokenizer_counts_words_and_single_punctuation_marks() -> None:
    expected = ["Hello", ",", "world", "!", "It", "'", "s", "42", "."]
    assert tokenize("Hello, world! It's 42.") == expected
    assert count_tokens("  ") == 0
    assert count_tokens("a...b") == 5


@pytest.mark.parametrize("text", ["", "one", " lead and trail  ", "a, b;c\n\nd!", "[simulated] x"])
def test_pieces_join_back_to_the_text_one_piece_per_token(text: str) -> None:
    assert "".join(pieces(text)) == text
    if count_tokens(text):
        assert len(pieces(text)) == count_tokens(text)


def test_truncate_keeps_the_first_tokens() -> None:
    assert truncate_tokens("one, two three", 2) == "one,"
    assert truncate_tokens("one two", 5) == "one two"
    assert truncate_tokens("one two", 0) == ""


# --- chat replies ----------------------------------------------------------------------------


def test_same_request_same_reply_and_seed_changes_it() -> None:
    assert chat_reply(chat()) == chat_reply(chat())
    assert text_of(chat_reply(chat(seed=1))) != text_of(chat_reply(chat(seed=2)))
    assert text_of(chat_reply(chat(), salt=1)) != text_of(chat_reply(chat(), salt=2))


def test_reply_is_labelled_and_echoes_the_question() -> None:
    reply = chat_reply(chat("Tell me about rivers"), created=123)
    text = text_of(reply)
    assert text.startswith(LABEL)
    assert "Tell me about rivers" in text
    assert reply["object"] == "chat.completion"
    assert reply["created"] == 123
    assert reply["model"] == "sim-fast"
    assert reply["choices"][0]["finish_reason"] == "stop"


def test_usage_follows_the_documented_tokenizer() -> None:
    body = chat("Hi, there!")
    reply = chat_reply(body)
    expected_prompt = 2 * MESSAGE_OVERHEAD + 4 + 4  # "You are terse ." and "Hi , there !"
    assert reply["usage"] == {
        "prompt_tokens": expected_prompt,
        "completion_tokens": count_tokens(text_of(reply)),
        "total_tokens": expected_prompt + count_tokens(text_of(reply)),
    }


def test_prompt_tokens_count_content_parts_and_tool_calls() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a b"}, {"type": "image_url"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "1", "function": {"name": "f", "arguments": '{"x":1}'}}],
            },
            {"role": "tool", "tool_call_id": "1", "content": "done"},
        ],
    }
    # 2 + (f + 7 tokens of {"x":1}) + 1, and 3 messages of overhead.
    assert chat_reply(body)["usage"]["prompt_tokens"] == 3 * MESSAGE_OVERHEAD + 2 + 1 + 7 + 1


def test_max_tokens_cuts_to_a_prefix_with_finish_length() -> None:
    full = text_of(chat_reply(chat()))
    reply = chat_reply(chat(max_tokens=5))
    assert reply["choices"][0]["finish_reason"] == "length"
    assert count_tokens(text_of(reply)) == 5
    assert reply["usage"]["completion_tokens"] == 5
    assert full.startswith(text_of(reply))
    newer = chat_reply(chat(max_completion_tokens=3))
    assert count_tokens(text_of(newer)) == 3


def test_stop_sequence_ends_the_text_before_it() -> None:
    reply = chat_reply(chat("alpha beta gamma", stop=["beta", "zzz"]))
    text = text_of(reply)
    assert "beta" not in text
    assert text.endswith("alpha ")
    assert reply["choices"][0]["finish_reason"] == "stop"
    assert reply["usage"]["completion_tokens"] == count_tokens(text)


def test_n_choices_differ_and_usage_sums_them() -> None:
    reply = chat_reply(chat(n=3))
    texts = [text_of(reply, index) for index in range(3)]
    assert [choice["index"] for choice in reply["choices"]] == [0, 1, 2]
    assert len(set(texts)) == 3
    assert texts[0] == text_of(chat_reply(chat()))
    assert reply["usage"]["completion_tokens"] == sum(map(count_tokens, texts))


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"n": 0}, "n"),
        ({"max_tokens": "many"}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"response_format": {"type": "xml"}}, "response_format"),
        ({"model": ""}, "model"),
    ],
)
def test_invalid_requests_are_refused(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(SimRequestError) as caught:
        chat_reply({**chat(), **extra})
    assert caught.value.param == param


# --- tools and JSON ------------------------------------------------------------------------------


def tool_call_of(reply: dict[str, Any]) -> dict[str, Any]:
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert isinstance(call, dict)
    return call


def test_required_tool_choice_calls_a_tool_with_valid_arguments() -> None:
    reply = chat_reply(chat("hello", tools=[WEATHER_TOOL], tool_choice="required"))
    call = tool_call_of(reply)
    assert call["type"] == "function"
    assert call["id"].startswith("call_sim_")
    assert call["function"]["name"] == "get_weather"
    arguments = json.loads(call["function"]["arguments"])
    jsonschema.validate(arguments, WEATHER_TOOL["function"]["parameters"])  # type: ignore[index]
    assert reply["usage"]["completion_tokens"] == count_tokens("get_weather") + count_tokens(
        call["function"]["arguments"]
    )


def test_mentioning_a_tool_calls_it_unless_a_result_came_back() -> None:
    other = {"type": "function", "function": {"name": "search_web"}}
    body = chat("please search_web for news", tools=[WEATHER_TOOL, other])
    assert tool_call_of(chat_reply(body))["function"]["name"] == "search_web"
    assert "tool_calls" not in chat_reply({**body, "tool_choice": "none"})["choices"][0]["message"]
    answered = {
        **body,
        "messages": [
            *body["messages"],
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "function": {}}]},
            {"role": "tool", "tool_call_id": "c", "content": "sunny"},
        ],
    }
    assert text_of(chat_reply(answered)).startswith(LABEL)


def test_named_tool_choice_is_followed() -> None:
    other = {"type": "function", "function": {"name": "search_web"}}
    choice = {"type": "function", "function": {"name": "get_weather"}}
    reply = chat_reply(chat("search_web please", tools=[other, WEATHER_TOOL], tool_choice=choice))
    assert tool_call_of(reply)["function"]["name"] == "get_weather"
    missing = {"type": "function", "function": {"name": "nope"}}
    with pytest.raises(SimRequestError):
        chat_reply(chat(tools=[other], tool_choice=missing))


def test_json_object_mode_answers_a_json_object() -> None:
    reply = chat_reply(chat(response_format={"type": "json_object"}))
    value = json.loads(text_of(reply))
    assert isinstance(value, dict)
    assert value["simulated"] is True


SCHEMAS: list[dict[str, Any]] = [
    {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 12, "maxLength": 20},
            "age": {"type": "integer", "exclusiveMinimum": 17, "maximum": 130},
            "score": {"type": "number", "minimum": 2.5},
            "ok": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "kind": {"enum": ["a", "b"]},
            "when": {"type": "string", "format": "date-time"},
            "note": {"type": ["null", "string"]},
        },
        "required": ["name", "age", "tags"],
        "additionalProperties": False,
    },
    {
        "$defs": {"point": {"type": "object", "properties": {"x": {"type": "number"}}}},
        "type": "object",
        "properties": {
            "points": {"type": "array", "items": {"$ref": "#/$defs/point"}, "minItems": 1},
            "either": {"anyOf": [{"type": "integer", "multipleOf": 5, "minimum": 3}, {}]},
            "both": {"allOf": [{"properties": {"a": {"const": 1}}}, {"required": ["b"]}]},
        },
        "required": ["points", "either", "both"],
    },
    {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "minItems": 2},
    {"type": "string", "enum": ["only"]},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_json_schema_output_validates(schema: dict[str, Any]) -> None:
    response_format = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}}
    reply = chat_reply(chat(response_format=response_format))
    jsonschema.validate(json.loads(text_of(reply)), schema)
    jsonschema.validate(example_value(schema), schema)


def test_invalid_json_marker_breaks_json_replies_and_tool_arguments() -> None:
    said = f"give me json {INVALID_JSON_MARKER}"
    reply = chat_reply(chat(said, response_format={"type": "json_object"}))
    with pytest.raises(json.JSONDecodeError):
        json.loads(text_of(reply))
    call = tool_call_of(chat_reply(chat(said, tools=[WEATHER_TOOL], tool_choice="required")))
    with pytest.raises(json.JSONDecodeError):
        json.loads(call["function"]["arguments"])


def test_echo_system_marker_quotes_the_system_prompt() -> None:
    reply = chat_reply(chat(f"what were you told? {ECHO_SYSTEM_MARKER}"))
    assert text_of(reply) == f"{LABEL} The system prompt is: You are terse."


# --- streams -----------------------------------------------------------------------------


def test_stream_chunks_rebuild_the_plain_reply() -> None:
    reply = chat_reply(chat(), created=7)
    chunks = chat_chunks(chat(stream=True, stream_options={"include_usage": True}), created=7)
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content = [chunk["choices"][0]["delta"].get("content") for chunk in chunks[1:-2]]
    assert "".join(content) == text_of(reply)
    assert len(content) == reply["usage"]["completion_tokens"]  # one chunk per token
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == reply["usage"]
    assert all(chunk["usage"] is None for chunk in chunks[:-1])


def test_stream_without_include_usage_has_no_usage_chunk() -> None:
    chunks = chat_chunks(chat(stream=True))
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in chunk for chunk in chunks)
    assert chat_chunks(chat(stream=True), include_usage=True)[-1]["usage"] is not None


def test_stream_tool_call_arguments_join_up() -> None:
    body = chat("hello", tools=[WEATHER_TOOL], tool_choice="required", stream=True)
    chunks = chat_chunks(body)
    opening = chunks[1]["choices"][0]["delta"]["tool_calls"][0]
    assert opening["function"] == {"name": "get_weather", "arguments": ""}
    arguments = "".join(
        chunk["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        for chunk in chunks[2:-1]
    )
    expected = tool_call_of(chat_reply(body))["function"]["arguments"]
    assert arguments == expected
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_stream_of_n_choices_and_max_tokens() -> None:
    chunks = chat_chunks(chat(stream=True, n=2, max_tokens=4))
    finishes = [c["choices"][0] for c in chunks if c["choices"][0]["finish_reason"]]
    assert [(f["index"], f["finish_reason"]) for f in finishes] == [(0, "length"), (1, "length")]


# --- embeddings ----------------------------------------------------------------------------


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_embeddings_are_deterministic_unit_vectors() -> None:
    reply = embeddings_reply({"model": "sim-embed", "input": ["the cat sat", "a dog ran far"]})
    first, second = (item["embedding"] for item in reply["data"])
    assert len(first) == 64
    assert cosine(first, first) == pytest.approx(1.0)
    assert first == embed_text("the cat sat")
    assert reply["usage"] == {"prompt_tokens": 7, "total_tokens": 7}
    assert reply["object"] == "list"
    assert [item["index"] for item in reply["data"]] == [0, 1]
    assert cosine(first, second) < cosine(first, embed_text("the cat sat down"))


def test_embeddings_dimensions_and_base64() -> None:
    body = {"model": "e", "input": "hello world", "dimensions": 8}
    plain = embeddings_reply(body)["data"][0]["embedding"]
    encoded = embeddings_reply({**body, "encoding_format": "base64"})["data"][0]["embedding"]
    decoded = struct.unpack("<8f", base64.b64decode(encoded))
    assert len(plain) == 8
    assert decoded == pytest.approx(plain, abs=1e-6)


def test_embeddings_of_token_ids_and_bad_input() -> None:
    reply = embeddings_reply({"model": "e", "input": [[1, 2, 3], [4]]})
    assert reply["usage"]["prompt_tokens"] == 4
    with pytest.raises(SimRequestError):
        embeddings_reply({"model": "e", "input": [1.5]})


# --- Anthropic Messages ------------------------------------------------------------------


def messages(text: str = "Hello there", **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-sim",
        "max_tokens": 200,
        "system": "Be kind.",
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def test_anthropic_reply_shape_and_usage() -> None:
    reply = messages_reply(messages())
    assert reply["type"] == "message"
    assert reply["role"] == "assistant"
    assert reply["stop_reason"] == "end_turn"
    (block,) = reply["content"]
    assert block["type"] == "text"
    assert block["text"].startswith(LABEL)
    assert reply["usage"] == {
        "input_tokens": 2 * MESSAGE_OVERHEAD + count_tokens("Be kind.") + 2,
        "output_tokens": count_tokens(block["text"]),
    }
    assert messages_reply(messages()) == reply


def test_anthropic_stop_reasons() -> None:
    assert messages_reply(messages(max_tokens=3))["stop_reason"] == "max_tokens"
    stopped = messages_reply(messages("one two three", stop_sequences=["two"]))
    assert stopped["stop_reason"] == "stop_sequence"
    assert stopped["stop_sequence"] == "two"
    tool = {"name": "lookup", "input_schema": WEATHER_TOOL["function"]["parameters"]}  # type: ignore[index]
    used = messages_reply(messages("hi", tools=[tool], tool_choice={"type": "any"}))
    assert used["stop_reason"] == "tool_use"
    (block,) = used["content"]
    assert block["type"] == "tool_use"
    assert block["id"].startswith("toolu_sim_")
    jsonschema.validate(block["input"], tool["input_schema"])


def test_anthropic_events_rebuild_the_reply() -> None:
    reply = messages_reply(messages())
    events = messages_events(messages(stream=True))
    kinds = [event["type"] for event in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"}
    text = "".join(event["delta"]["text"] for event in events[2:-3])
    assert text == reply["content"][0]["text"]
    assert events[0]["message"]["usage"]["input_tokens"] == reply["usage"]["input_tokens"]
    assert events[-2]["usage"]["output_tokens"] == reply["usage"]["output_tokens"]
    assert events[-2]["delta"]["stop_reason"] == "end_turn"


def test_anthropic_requires_max_tokens_and_valid_roles() -> None:
    with pytest.raises(SimRequestError):
        messages_reply({"model": "c", "messages": [{"role": "user", "content": "x"}]})
    with pytest.raises(SimRequestError):
        messages_reply(messages() | {"messages": [{"role": "system", "content": "x"}]})
