"""The ``anthropic`` provider's translation: OpenAI in, OpenAI out. No I/O.

An OpenAI chat request becomes an Anthropic Messages request
(:func:`openai_request_to_messages`); Anthropic's answer comes back as an OpenAI chat
completion (:func:`messages_response_to_openai`) or, streamed, as OpenAI chunks
(:class:`MessagesEventsToOpenAIChunks`).

Only a request Anthropic cannot take raises :class:`~steadyllm.errors.InvalidRequest`
(e.g. ``n`` above 1, tools other than functions, parts other than text and images);
the upstream's answer is read defensively, because the provider checks it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from steadyllm.errors import InvalidRequest
from steadyllm.translate._anthropic_common import (
    dumps,
    is_int,
    is_number,
    openai_text,
    token_count,
    tool_use_blocks,
)

__all__ = [
    "MessagesEventsToOpenAIChunks",
    "messages_response_to_openai",
    "openai_request_to_messages",
]

DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; OpenAI clients often leave it out

_OPENAI_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_TOOL_CHOICE_TO_ANTHROPIC = {"auto": "auto", "required": "any", "none": "none"}


# --- OpenAI request -> Anthropic request (the anthropic provider) --------------------


def openai_request_to_messages(body: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI chat request as an Anthropic Messages request."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise InvalidRequest("messages: must be a list", param="messages")
    n = body.get("n")
    if is_int(n) and n > 1:
        raise InvalidRequest("n: anthropic deployments answer one choice", param="n")

    system: list[str] = []
    out: list[dict[str, Any]] = []
    for position, message in enumerate(messages):
        where = f"messages[{position}]"
        if not isinstance(message, Mapping):
            raise InvalidRequest(f"{where}: must be an object", param=where)
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):  # Anthropic takes one top-level system prompt
            text = openai_text(content)
            if text:
                system.append(text)
            continue
        if role == "user":
            blocks = _user_blocks(content, where)
        elif role == "assistant":
            blocks = _assistant_blocks(message)
        elif role == "tool":
            role = "user"
            blocks = [
                {
                    "type": "tool_result",
                    "tool_use_id": str(message.get("tool_call_id") or ""),
                    "content": openai_text(content),
                }
            ]
        else:
            raise InvalidRequest(f"{where}.role: {role!r} cannot be translated", param=where)
        if not blocks:
            continue  # Anthropic rejects empty turns
        if out and out[-1]["role"] == role:
            # Tool results and a user's text become one user turn, results first.
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    request: dict[str, Any] = {"model": body.get("model"), "messages": out}
    if system:
        request["system"] = "\n\n".join(system)
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    request["max_tokens"] = max_tokens if is_int(max_tokens) else DEFAULT_MAX_TOKENS
    temperature = body.get("temperature")
    if is_number(temperature):
        request["temperature"] = min(temperature, 1.0)  # OpenAI goes to 2, Anthropic to 1
    if is_number(body.get("top_p")):
        request["top_p"] = body["top_p"]
    stop = body.get("stop")
    if isinstance(stop, str):
        request["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        request["stop_sequences"] = [s for s in stop if isinstance(s, str)]
    if body.get("stream"):
        request["stream"] = True
    if isinstance(body.get("user"), str):
        request["metadata"] = {"user_id": body["user"]}
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        request["tools"] = [_tool_to_anthropic(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
        tool_choice = _tool_choice_to_anthropic(body.get("tool_choice"))
        if body.get("parallel_tool_calls") is False:
            tool_choice = tool_choice or {"type": "auto"}
            if tool_choice["type"] != "none":
                tool_choice["disable_parallel_tool_use"] = True
        if tool_choice:
            request["tool_choice"] = tool_choice
    return request


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}.content: must be a string or a list", param=where)
    blocks: list[dict[str, Any]] = []
    for position, part in enumerate(content):
        place = f"{where}.content[{position}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": str(part["text"])})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, Mapping) else image
            if not isinstance(url, str):
                raise InvalidRequest(f"{place}.image_url: must have a url", param=place)
            blocks.append(_image_to_anthropic(url, place))
        else:
            raise InvalidRequest(
                f"{place}: {kind!r} parts cannot be sent to anthropic deployments", param=place
            )
    return blocks


def _image_to_anthropic(url: str, where: str) -> dict[str, Any]:
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type, _, encoding = header[5:].partition(";")
        if encoding != "base64" or not data:
            raise InvalidRequest(f"{where}: data URLs must be base64", param=where)
        source = {"type": "base64", "media_type": media_type, "data": data}
        return {"type": "image", "source": source}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _assistant_blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = openai_text(message.get("content"))
    if text:
        blocks.append({"type": "text", "text": text})
    blocks.extend(tool_use_blocks(message.get("tool_calls")))
    return blocks


def _tool_to_anthropic(tool: Any, where: str) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, Mapping) else None
    if not isinstance(function, Mapping) or tool.get("type", "function") != "function":
        raise InvalidRequest(f"{where}: only function tools can be translated", param=where)
    parameters = function.get("parameters")
    out: dict[str, Any] = {
        "name": function.get("name"),
        "input_schema": parameters
        if isinstance(parameters, Mapping)
        else {"type": "object", "properties": {}},
    }
    if isinstance(function.get("description"), str):
        out["description"] = function["description"]
    return out


def _tool_choice_to_anthropic(choice: Any) -> dict[str, Any] | None:
    if isinstance(choice, str) and choice in _TOOL_CHOICE_TO_ANTHROPIC:
        return {"type": _TOOL_CHOICE_TO_ANTHROPIC[choice]}
    if isinstance(choice, Mapping):
        function = choice.get("function")
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            return {"type": "tool", "name": function["name"]}
    return None


# --- Anthropic answer -> OpenAI answer (the anthropic provider) ---------------------


def messages_response_to_openai(
    body: Mapping[str, Any], *, created: int | None = None
) -> dict[str, Any]:
    """An Anthropic message as an OpenAI chat completion."""
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    content = body.get("content")
    for block in content if isinstance(content, list) else ():
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            tool_calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": dumps(block.get("input") or {}),
                    },
                }
            )
        # thinking and server-tool blocks have no OpenAI place
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": body.get("id"),
        "object": "chat.completion",
        "created": created if created is not None else int(time.time()),
        "model": body.get("model"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _OPENAI_FINISH.get(body.get("stop_reason") or "", "stop"),
                "logprobs": None,
            }
        ],
        "usage": _usage_to_openai(body.get("usage")),
    }


class MessagesEventsToOpenAIChunks:
    """Anthropic stream events in, OpenAI ``chat.completion.chunk`` dicts out.

    ``message_stop`` yields a last chunk with no choices and the whole ``usage``,
    as OpenAI does with ``stream_options.include_usage``; ``done`` turns true then.
    ``error`` events are the caller's to raise; ``ping`` and unknown events are
    skipped.
    """

    def __init__(self, *, created: int | None = None) -> None:
        self._id = ""
        self._model = ""
        self._created = created if created is not None else int(time.time())
        self._tool_calls: dict[Any, int] = {}  # block index -> OpenAI tool-call index
        self._usage: dict[str, Any] = {}
        self.done = False

    def feed(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self._id = str(message.get("id") or "")
            self._model = str(message.get("model") or "")
            self._add_usage(message.get("usage"))
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._block_start(event.get("index"), event.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(event.get("index"), event.get("delta") or {})
        if kind == "message_delta":
            delta = event.get("delta") or {}
            self._add_usage(event.get("usage"))
            finish = _OPENAI_FINISH.get(delta.get("stop_reason") or "", "stop")
            return [self._chunk({}, finish)]
        if kind == "message_stop":
            self.done = True
            return [
                {
                    "id": self._id,
                    "object": "chat.completion.chunk",
                    "created": self._created,
                    "model": self._model,
                    "choices": [],
                    "usage": _usage_to_openai(self._usage),
                }
            ]
        return []

    def _block_start(self, index: Any, block: Mapping[str, Any]) -> list[dict[str, Any]]:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if kind == "tool_use":
            position = self._tool_calls[index] = len(self._tool_calls)
            # The input streams as input_json_delta; a non-empty one here came whole.
            initial = block.get("input")
            call = {
                "index": position,
                "id": block.get("id"),
                "type": "function",
                "function": {
                    "name": block.get("name"),
                    "arguments": dumps(initial) if initial else "",
                },
            }
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _block_delta(self, index: Any, delta: Mapping[str, Any]) -> list[dict[str, Any]]:
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if kind == "input_json_delta" and delta.get("partial_json") and index in self._tool_calls:
            call = {
                "index": self._tool_calls[index],
                "function": {"arguments": delta["partial_json"]},
            }
            return [self._chunk({"tool_calls": [call]})]
        return []  # thinking, signatures and citations have no OpenAI place

    def _add_usage(self, usage: Any) -> None:
        if isinstance(usage, Mapping):
            # message_delta counts are cumulative, so later values replace earlier ones.
            self._usage.update({k: v for k, v in usage.items() if v is not None})

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [
                {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            ],
        }


def _usage_to_openai(usage: Any) -> dict[str, Any]:
    usage = usage if isinstance(usage, Mapping) else {}
    cache_read = token_count(usage.get("cache_read_input_tokens"))
    # Anthropic counts cached prompt tokens apart; OpenAI's prompt_tokens includes them.
    prompt = (
        token_count(usage.get("input_tokens"))
        + cache_read
        + token_count(usage.get("cache_creation_input_tokens"))
    )
    completion = token_count(usage.get("output_tokens"))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read},
    }
