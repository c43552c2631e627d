"""Anthropic Messages <-> OpenAI chat translation: tables of cases, both ways, and SDK checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest
from aiohttp import web
from anthropic.types import Message, RawMessageStreamEvent
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import TypeAdapter

from steadyllm.errors import InvalidRequest
from steadyllm.translate.anthropic import (
    MessagesEventsToOpenAIChunks,
    OpenAIChunksToMessagesEvents,
    messages_request_to_openai,
    messages_response_to_openai,
    openai_request_to_messages,
    openai_response_to_messages,
    openai_stream_to_messages,
)
from tests.providers import FakeUpstream, event, sse

USER_HI = [{"role": "user", "content": "hi"}]
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}
PNG = "iVBORw0KGgo="

# --- Anthropic request -> OpenAI request ---------------------------------------------

MESSAGES_TO_OPENAI = [
    pytest.param(
        {"model": "m", "max_tokens": 100, "messages": USER_HI},
        {"model": "m", "messages": USER_HI, "max_tokens": 100},
        id="minimal",
    ),
    pytest.param(
        {
            "model": "m",
            "max_tokens": 10,
            "system": "be brief",
            "messages": USER_HI,
            "stop_sequences": ["END"],
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 5,
            "metadata": {"user_id": "u1"},
        },
        {
            "model": "m",
            "messages": [{"role": "system", "content": "be brief"}, *USER_HI],
            "max_tokens": 10,
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": ["END"],
            "user": "u1",
        },
        id="system-and-sampling",
    ),
    pytest.param(
        {
            "model": "m",
            "system": [
                {"type": "text", "text": "one", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "two"},
            ],
            "messages": USER_HI,
        },
        {"model": "m", "messages": [{"role": "system", "content": "one\ntwo"}, *USER_HI]},
        id="system-blocks",
    ),
    pytest.param(
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                    ],
                }
            ],
        },
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                    ],
                }
            ],
        },
        id="images",
    ),
    pytest.param(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                        {"type": "text", "text": "Let me look."},
                        {
                            "type": "tool_use",
                            "id": "t1",
                            "name": "weather",
                            "input": {"city": "Oslo"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "content": "rain"},
                        {"type": "text", "text": "and tomorrow?"},
                    ],
                },
            ],
        },
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": "Let me look.",
                    "tool_calls": [
                        {
                            "id": "t1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "t1", "content": "rain"},
                {"role": "user", "content": "and tomorrow?"},
            ],
        },
        id="tool-round-trip",
    ),
    pytest.param(
        {
            "model": "m",
            "messages": [
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "is_error": False,
                            "content": [
                                {"type": "text", "text": "a"},
                                {"type": "text", "text": "b"},
                                {"type": "image", "source": {"type": "url", "url": "https://i"}},
                            ],
                        }
                    ],
                },
            ],
        },
        {
            "model": "m",
            "messages": [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "t1",
                            "type": "function",
                            "function": {"name": "shot", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "t1", "content": "a\nb"},
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://i"}}],
                },
            ],
        },
        id="tool-result-blocks-and-image",
    ),
    pytest.param(
        {
            "model": "m",
            "messages": USER_HI,
            "tools": [
                {"name": "weather", "description": "Weather now", "input_schema": WEATHER_SCHEMA},
                {"type": "custom", "name": "noop", "input_schema": {"type": "object"}},
            ],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        },
        {
            "model": "m",
            "messages": USER_HI,
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "weather",
                        "parameters": WEATHER_SCHEMA,
                        "description": "Weather now",
                    },
                },
                {
                    "type": "function",
                    "function": {"name": "noop", "parameters": {"type": "object"}},
                },
            ],
            "tool_choice": "required",
            "parallel_tool_calls": False,
        },
        id="tools-any",
    ),
    pytest.param(
        {
            "model": "m",
            "messages": USER_HI,
            "tools": [{"name": "weather", "input_schema": WEATHER_SCHEMA}],
            "tool_choice": {"type": "tool", "name": "weather"},
        },
        {
            "model": "m",
            "messages": USER_HI,
            "tools": [
                {"type": "function", "function": {"name": "weather", "parameters": WEATHER_SCHEMA}}
            ],
            "tool_choice": {"type": "function", "function": {"name": "weather"}},
        },
        id="tool-choice-named",
    ),
    pytest.param(
        {"model": "m", "messages": USER_HI, "stream": True, "tool_choice": {"type": "auto"}},
        {
            "model": "m",
            "messages": USER_HI,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        id="stream-asks-usage-and-tool-choice-without-tools-dropped",
    ),
]


@pytest.mark.parametrize(("anthropic_body", "openai_body"), MESSAGES_TO_OPENAI)
def test_messages_request_to_openai(
    anthropic_body: dict[str, Any], openai_body: dict[str, Any]
) -> None:
    assert messages_request_to_openai(anthropic_body) == openai_body


def _request(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": USER_HI, **fields}


def _with_content(content: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": content}]}


INVALID_MESSAGES = [
    pytest.param(["not", "an", "object"], None, id="body"),
    pytest.param({"messages": USER_HI}, "model", id="model-missing"),
    pytest.param(_request(messages="hi"), "messages", id="messages-string"),
    pytest.param(_request(messages=[]), "messages", id="messages-empty"),
    pytest.param(_request(messages=["hi"]), "messages[0]", id="message-string"),
    pytest.param(
        _request(messages=[{"role": "system", "content": "x"}]), "messages[0].role", id="role"
    ),
    pytest.param(_with_content(7), "messages[0].content", id="content-number"),
    pytest.param(_with_content([{"text": "x"}]), "messages[0].content[0]", id="block-untyped"),
    pytest.param(
        _with_content([{"type": "text", "text": 5}]), "messages[0].content[0].text", id="text"
    ),
    pytest.param(
        _with_content([{"type": "document", "source": {}}]),
        "messages[0].content[0].type",
        id="block-unknown",
    ),
    pytest.param(
        _with_content([{"type": "image", "source": {"type": "file", "file_id": "f"}}]),
        "messages[0].content[0].source",
        id="image-source",
    ),
    pytest.param(_request(max_tokens="10"), "max_tokens", id="max-tokens-string"),
    pytest.param(_request(max_tokens=True), "max_tokens", id="max-tokens-bool"),
    pytest.param(_request(max_tokens=0), "max_tokens", id="max-tokens-zero"),
    pytest.param(_request(temperature="hot"), "temperature", id="temperature"),
    pytest.param(_request(stop_sequences="END"), "stop_sequences", id="stop-sequences"),
    pytest.param(_request(stream="yes"), "stream", id="stream"),
    pytest.param(_request(system=3), "system", id="system"),
    pytest.param(_request(metadata="u1"), "metadata", id="metadata"),
    pytest.param(_request(tools={"name": "x"}), "tools", id="tools-object"),
    pytest.param(
        _request(tools=[{"type": "web_search_20250305", "name": "web_search"}]),
        "tools[0].type",
        id="server-tool",
    ),
    pytest.param(_request(tools=[{"name": "x"}]), "tools[0].input_schema", id="tool-schema"),
    pytest.param(
        _request(tools=[{"name": "x", "input_schema": {}}], tool_choice={"type": "sometimes"}),
        "tool_choice.type",
        id="tool-choice",
    ),
]


@pytest.mark.parametrize(("body", "param"), INVALID_MESSAGES)
def test_messages_request_to_openai_rejects_wrong_shapes(body: Any, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as caught:
        messages_request_to_openai(body)
    assert caught.value.param == param
    assert caught.value.http_status == 400


# --- OpenAI answer -> Anthropic answer -----------------------------------------------


def _completion(message: dict[str, Any], finish: str, **usage: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "up",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13, **usage},
    }


def _message(content: list[dict[str, Any]], stop: str, **usage: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "type": "message",
        "role": "assistant",
        "model": "up",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 3,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            **usage,
        },
    }


WEATHER_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
}
WEATHER_USE = {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Oslo"}}

OPENAI_TO_MESSAGES = [
    pytest.param(
        _completion({"role": "assistant", "content": "Hello"}, "stop"),
        _message([{"type": "text", "text": "Hello"}], "end_turn"),
        id="text",
    ),
    pytest.param(
        _completion(
            {"role": "assistant", "content": "x"},
            "length",
            prompt_tokens_details={"cached_tokens": 4},
        ),
        _message(
            [{"type": "text", "text": "x"}],
            "max_tokens",
            input_tokens=6,
            cache_read_input_tokens=4,
        ),
        id="length-and-cached-tokens",
    ),
    pytest.param(
        _completion(
            {"role": "assistant", "content": None, "tool_calls": [WEATHER_CALL]}, "tool_calls"
        ),
        _message([WEATHER_USE], "tool_use"),
        id="tool-call",
    ),
    pytest.param(
        _completion({"role": "assistant", "content": "", "tool_calls": [WEATHER_CALL]}, "stop"),
        _message([WEATHER_USE], "tool_use"),
        id="tool-call-finished-with-stop",
    ),
    pytest.param(
        _completion(
            {
                "role": "assistant",
                "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}],
            },
            "tool_calls",
        ),
        _message([{"type": "tool_use", "id": "c", "name": "f", "input": {}}], "tool_use"),
        id="unreadable-arguments",
    ),
    pytest.param(
        _completion({"role": "assistant", "content": None, "refusal": "No."}, "content_filter"),
        _message([{"type": "text", "text": "No."}], "refusal"),
        id="refusal",
    ),
]


@pytest.mark.parametrize(("openai_body", "anthropic_body"), OPENAI_TO_MESSAGES)
def test_openai_response_to_messages(
    openai_body: dict[str, Any], anthropic_body: dict[str, Any]
) -> None:
    translated = openai_response_to_messages(openai_body)
    assert translated == anthropic_body
    Message.model_validate(translated)


def test_openai_response_to_messages_can_name_the_clients_model() -> None:
    body = _completion({"role": "assistant", "content": "x"}, "stop")
    assert openai_response_to_messages(body, model="claude-alias")["model"] == "claude-alias"


# --- OpenAI request -> Anthropic request ---------------------------------------------

OPENAI_TO_MESSAGES_REQUESTS = [
    pytest.param(
        {
            "model": "up",
            "messages": [
                {"role": "system", "content": "rule one"},
                {"role": "developer", "content": [{"type": "text", "text": "rule two"}]},
                {"role": "user", "content": "hi"},
            ],
            "temperature": 1.5,
            "top_p": 0.5,
            "stop": "END",
            "user": "u1",
            "stream": True,
            "stream_options": {"include_usage": True},
            "seed": 3,
        },
        {
            "model": "up",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "system": "rule one\n\nrule two",
            "max_tokens": 4096,
            "temperature": 1.0,
            "top_p": 0.5,
            "stop_sequences": ["END"],
            "stream": True,
            "metadata": {"user_id": "u1"},
        },
        id="system-defaults-and-sampling",
    ),
    pytest.param(
        {"model": "up", "messages": USER_HI, "max_tokens": 50, "max_completion_tokens": 70},
        {
            "model": "up",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "max_tokens": 70,
        },
        id="max-completion-tokens-wins",
    ),
    pytest.param(
        {
            "model": "up",
            "messages": [
                {"role": "user", "content": "weather in Oslo and Rome?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        WEATHER_CALL,
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city":"Rome"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "rain"},
                {
                    "role": "tool",
                    "tool_call_id": "call_2",
                    "content": [{"type": "text", "text": "sun"}],
                },
                {"role": "user", "content": "thanks"},
                {"role": "assistant", "content": ""},
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "weather",
                        "description": "Weather now",
                        "parameters": WEATHER_SCHEMA,
                    },
                },
                {"type": "function", "function": {"name": "noop"}},
            ],
            "tool_choice": "required",
            "parallel_tool_calls": False,
        },
        {
            "model": "up",
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "weather in Oslo and Rome?"}],
                },
                {
                    "role": "assistant",
                    "content": [
                        WEATHER_USE,
                        {
                            "type": "tool_use",
                            "id": "call_2",
                            "name": "weather",
                            "input": {"city": "Rome"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "call_1", "content": "rain"},
                        {"type": "tool_result", "tool_use_id": "call_2", "content": "sun"},
                        {"type": "text", "text": "thanks"},
                    ],
                },
            ],
            "max_tokens": 4096,
            "tools": [
                {"name": "weather", "input_schema": WEATHER_SCHEMA, "description": "Weather now"},
                {"name": "noop", "input_schema": {"type": "object", "properties": {}}},
            ],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        },
        id="parallel-tools-merged-results",
    ),
    pytest.param(
        {
            "model": "up",
            "messages": USER_HI,
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
            ],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
        },
        {
            "model": "up",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "max_tokens": 4096,
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "f"},
        },
        id="named-tool-choice",
    ),
    pytest.param(
        {
            "model": "up",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://x/y.png", "detail": "low"},
                        },
                    ],
                }
            ],
        },
        {
            "model": "up",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                    ],
                }
            ],
            "max_tokens": 4096,
        },
        id="images",
    ),
]


@pytest.mark.parametrize(("openai_body", "anthropic_body"), OPENAI_TO_MESSAGES_REQUESTS)
def test_openai_request_to_messages(
    openai_body: dict[str, Any], anthropic_body: dict[str, Any]
) -> None:
    assert openai_request_to_messages(openai_body) == anthropic_body


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param({"model": "up", "messages": "hi"}, "messages", id="messages"),
        pytest.param(
            {"model": "up", "messages": [{"role": "function", "content": "x"}]},
            "messages[0]",
            id="role",
        ),
        pytest.param({"model": "up", "messages": USER_HI, "n": 2}, "n", id="n"),
        pytest.param(
            {
                "model": "up",
                "messages": [
                    {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}
                ],
            },
            "messages[0].content[0]",
            id="audio",
        ),
        pytest.param(
            {"model": "up", "messages": USER_HI, "tools": [{"type": "custom", "custom": {}}]},
            "tools[0]",
            id="tool",
        ),
    ],
)
def test_openai_request_to_messages_refuses_what_anthropic_cannot_take(
    body: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        openai_request_to_messages(body)
    assert caught.value.param == param


# --- Anthropic answer -> OpenAI answer -----------------------------------------------

MESSAGES_TO_OPENAI_RESPONSES = [
    pytest.param(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "s"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}},
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 5,
                "output_tokens": 7,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 20,
            },
        },
        {
            "id": "msg_1",
            "object": "chat.completion",
            "created": 1,
            "model": "claude",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Checking.",
                        "tool_calls": [
                            {
                                "id": "toolu_1",
                                "type": "function",
                                "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                            }
                        ],
                    },
                    "finish_reason": "tool_calls",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": 125,
                "completion_tokens": 7,
                "total_tokens": 132,
                "prompt_tokens_details": {"cached_tokens": 100},
            },
        },
        id="text-tool-and-cache",
    ),
]


@pytest.mark.parametrize(("anthropic_body", "openai_body"), MESSAGES_TO_OPENAI_RESPONSES)
def test_messages_response_to_openai(
    anthropic_body: dict[str, Any], openai_body: dict[str, Any]
) -> None:
    translated = messages_response_to_openai(anthropic_body, created=1)
    assert translated == openai_body
    ChatCompletion.model_validate(translated)


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        (None, "stop"),
    ],
)
def test_stop_reasons_map_to_finish_reasons(stop_reason: str | None, finish_reason: str) -> None:
    body: dict[str, Any] = {"id": "m", "content": [], "stop_reason": stop_reason, "usage": {}}
    translated = messages_response_to_openai(body, created=1)
    assert translated["choices"][0]["finish_reason"] == finish_reason
    assert translated["choices"][0]["message"]["content"] is None


# --- streams -------------------------------------------------------------------------


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-9",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "up",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


OPENAI_CHUNKS = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "Hel"}),
    _chunk({"content": "lo"}),
    _chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": ""},
                }
            ]
        }
    ),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
    _chunk(
        {
            "tool_calls": [
                {"index": 1, "id": "call_2", "function": {"name": "noop", "arguments": "{}"}}
            ]
        }
    ),
    _chunk({}, "tool_calls"),
    {
        "id": "chatcmpl-9",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "up",
        "choices": [],
        "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
    },
]

ANTHROPIC_EVENTS = [
    {
        "type": "message_start",
        "message": {
            "id": "chatcmpl-9",
            "type": "message",
            "role": "assistant",
            "model": "up",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 0,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}},
    {"type": "content_block_stop", "index": 0},
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "call_1", "name": "weather", "input": {}},
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": '{"city":'},
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": '"Oslo"}'},
    },
    {"type": "content_block_stop", "index": 1},
    {
        "type": "content_block_start",
        "index": 2,
        "content_block": {"type": "tool_use", "id": "call_2", "name": "noop", "input": {}},
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": "{}"},
    },
    {"type": "content_block_stop", "index": 2},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {
            "input_tokens": 12,
            "output_tokens": 9,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    },
    {"type": "message_stop"},
]


def test_openai_chunks_to_messages_events() -> None:
    converter = OpenAIChunksToMessagesEvents()
    events = [e for chunk in OPENAI_CHUNKS for e in converter.feed(chunk)] + converter.finish()
    assert events == ANTHROPIC_EVENTS
    adapter: TypeAdapter[RawMessageStreamEvent] = TypeAdapter(RawMessageStreamEvent)
    for item in events:
        adapter.validate_python(item)


def test_an_empty_stream_still_makes_a_whole_message() -> None:
    events = OpenAIChunksToMessagesEvents(model="claude-alias").finish()
    assert [e["type"] for e in events] == ["message_start", "message_delta", "message_stop"]
    assert events[0]["message"]["model"] == "claude-alias"
    assert events[1]["delta"]["stop_reason"] == "end_turn"


def test_chunks_without_tool_call_index_still_group_by_id() -> None:
    converter = OpenAIChunksToMessagesEvents()
    events = []
    for delta in (
        {"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{"}}]},
        {"tool_calls": [{"function": {"arguments": "}"}}]},
        {"tool_calls": [{"id": "b", "function": {"name": "g", "arguments": "{}"}}]},
    ):
        events.extend(converter.feed(_chunk(delta)))
    starts = [e for e in events if e["type"] == "content_block_start"]
    deltas = [
        (e["index"], e["delta"]["partial_json"])
        for e in events
        if e["type"] == "content_block_delta"
    ]
    assert [s["content_block"]["id"] for s in starts] == ["a", "b"]
    assert deltas == [(0, "{"), (0, "}"), (1, "{}")]
    assert converter.finish()[-2]["delta"]["stop_reason"] == "tool_use"


async def test_openai_stream_to_messages_passes_a_cut_through_without_message_stop() -> None:
    async def broken() -> AsyncIterator[dict[str, Any]]:
        yield _chunk({"content": "partial"})
        raise RuntimeError("cut")

    seen: list[str] = []

    async def read() -> None:
        async for item in openai_stream_to_messages(broken()):
            seen.append(item["type"])

    with pytest.raises(RuntimeError, match="cut"):
        await read()
    assert seen == ["message_start", "content_block_start", "content_block_delta"]


def test_messages_events_to_openai_chunks() -> None:
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "model": "claude",
                "usage": {"input_tokens": 5, "cache_read_input_tokens": 10, "output_tokens": 1},
            },
        },
        {"type": "ping"},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": ""},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "x"},
        },
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 1},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '{"city":"Oslo"}'},
        },
        {"type": "content_block_stop", "index": 2},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 20},
        },
        {"type": "message_stop"},
    ]
    converter = MessagesEventsToOpenAIChunks(created=1)
    chunks = []
    for item in events:
        assert not converter.done
        chunks.extend(converter.feed(item))
    assert converter.done

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "msg_1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "claude",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    assert chunks == [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hi"}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":"Oslo"}'}}]}),
        chunk({}, "tool_calls"),
        {
            "id": "msg_1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "claude",
            "choices": [],
            "usage": {
                "prompt_tokens": 15,
                "completion_tokens": 20,
                "total_tokens": 35,
                "prompt_tokens_details": {"cached_tokens": 10},
            },
        },
    ]
    # The OpenAI SDK's own stream accumulator reads them into one completion.
    state = ChatCompletionStreamState()
    for item in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(item))
    final = state.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Hi"
    assert message.tool_calls is not None
    assert message.tool_calls[0].function.arguments == '{"city":"Oslo"}'
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage is not None
    assert final.usage.completion_tokens == 20


async def test_the_anthropic_sdk_reads_the_translated_stream() -> None:
    """What the /v1/messages endpoint would send, read by the real Anthropic client."""

    async def chunks() -> AsyncIterator[dict[str, Any]]:
        for item in OPENAI_CHUNKS:
            yield item

    body = [event(item) async for item in openai_stream_to_messages(chunks(), model="claude-x")]
    fake = await FakeUpstream().start()

    async def stream(request: Any) -> web.StreamResponse:
        return await sse(request, body)

    fake.handler = stream
    client = anthropic.AsyncAnthropic(api_key="k", base_url=fake.url, max_retries=0)
    try:
        async with client.messages.stream(
            model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        ) as reader:
            message = await reader.get_final_message()
    finally:
        await client.close()
        await fake.close()
    assert message.model == "claude-x"
    assert [block.type for block in message.content] == ["text", "tool_use", "tool_use"]
    assert message.content[0].text == "Hello"  # type: ignore[union-attr]
    assert message.content[1].input == {"city": "Oslo"}  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 9)
