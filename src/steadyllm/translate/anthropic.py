"""Anthropic Messages and OpenAI chat completions, translated both ways. No I/O.

Two users, each going both ways:

- the gateway's ``/v1/messages`` endpoint takes an Anthropic request in and gives an
  Anthropic answer back: :func:`messages_request_to_openai`, then
  :func:`openai_response_to_messages` (whole answer) or
  :func:`openai_stream_to_messages` (OpenAI chunks to Anthropic stream events);
- the ``anthropic`` provider sends to an Anthropic upstream:
  :func:`openai_request_to_messages`, then :func:`messages_response_to_openai` or
  :class:`MessagesEventsToOpenAIChunks`.

Only the client-facing direction validates (:class:`~steadyllm.errors.InvalidRequest`);
the rest reads defensively, because an upstream's answer is checked by the provider.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any, TypeGuard

import orjson

from steadyllm.errors import InvalidRequest

__all__ = [
    "MessagesEventsToOpenAIChunks",
    "OpenAIChunksToMessagesEvents",
    "messages_request_to_openai",
    "messages_response_to_openai",
    "openai_request_to_messages",
    "openai_response_to_messages",
    "openai_stream_to_messages",
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
_ANTHROPIC_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
_TOOL_CHOICE_TO_OPENAI = {"auto": "auto", "any": "required", "none": "none"}
_TOOL_CHOICE_TO_ANTHROPIC = {"auto": "auto", "required": "any", "none": "none"}


# --- Anthropic request -> OpenAI request (the /v1/messages endpoint) ----------------


def messages_request_to_openai(body: Any) -> dict[str, Any]:
    """An Anthropic Messages request as an OpenAI chat request; wrong shapes raise."""
    if not isinstance(body, Mapping):
        raise InvalidRequest("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: a model name is required", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: a non-empty list of messages is required", param="messages")

    out: list[dict[str, Any]] = []
    system = _system_text(body.get("system"))
    if system:
        out.append({"role": "system", "content": system})
    for position, message in enumerate(messages):
        out.extend(_message_to_openai(message, f"messages[{position}]"))
    request: dict[str, Any] = {"model": model, "messages": out}

    max_tokens = body.get("max_tokens")
    if max_tokens is not None:
        if not _is_int(max_tokens) or max_tokens < 1:
            raise InvalidRequest("max_tokens: must be a positive integer", param="max_tokens")
        request["max_tokens"] = max_tokens
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None:
            if not _is_number(value):
                raise InvalidRequest(f"{name}: must be a number", param=name)
            request[name] = value
    # top_k has no OpenAI counterpart; OpenAI itself rejects unknown parameters.
    stop = body.get("stop_sequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise InvalidRequest(
                "stop_sequences: must be a list of strings", param="stop_sequences"
            )
        if stop:
            request["stop"] = stop
    stream = body.get("stream")
    if stream is not None:
        if not isinstance(stream, bool):
            raise InvalidRequest("stream: must be a boolean", param="stream")
        if stream:
            request["stream"] = True
            # message_delta reports usage, so ask for it whatever the upstream is.
            request["stream_options"] = {"include_usage": True}
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise InvalidRequest("metadata: must be an object", param="metadata")
        if isinstance(metadata.get("user_id"), str):
            request["user"] = metadata["user_id"]
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise InvalidRequest("tools: must be a list", param="tools")
        if tools:
            request["tools"] = [
                _tool_to_openai(tool, f"tools[{i}]") for i, tool in enumerate(tools)
            ]
    tool_choice = body.get("tool_choice")
    if tool_choice is not None and request.get("tools"):
        request.update(_tool_choice_to_openai(tool_choice))
    return request


def _system_text(system: Any) -> str:
    if system is None or isinstance(system, str):
        return system or ""
    if isinstance(system, list):
        texts = []
        for position, block in enumerate(system):
            where = f"system[{position}]"
            if not isinstance(block, Mapping) or block.get("type") != "text":
                raise InvalidRequest(f"{where}: system blocks must be text blocks", param=where)
            texts.append(_string(block, "text", where))
        return "\n".join(texts)
    raise InvalidRequest("system: must be a string or a list of text blocks", param="system")


def _message_to_openai(message: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(message, Mapping):
        raise InvalidRequest(f"{where}: must be an object with role and content", param=where)
    role = message.get("role")
    if role not in ("user", "assistant"):
        raise InvalidRequest(f"{where}.role: must be 'user' or 'assistant'", param=f"{where}.role")
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise InvalidRequest(
            f"{where}.content: must be a string or a list of content blocks",
            param=f"{where}.content",
        )
    for position, block in enumerate(content):
        if not isinstance(block, Mapping) or not isinstance(block.get("type"), str):
            place = f"{where}.content[{position}]"
            raise InvalidRequest(f"{place}: must be an object with a type", param=place)
    if role == "assistant":
        return [_assistant_to_openai(content, where)]
    return _user_to_openai(content, where)


def _user_to_openai(content: list[Mapping[str, Any]], where: str) -> list[dict[str, Any]]:
    # Anthropic puts tool results inside the user turn; OpenAI wants them as "tool"
    # messages right after the assistant's tool calls, so they go first.
    tool_messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for position, block in enumerate(content):
        place = f"{where}.content[{position}]"
        kind = block["type"]
        if kind == "text":
            parts.append({"type": "text", "text": _string(block, "text", place)})
        elif kind == "image":
            parts.append(_image_to_openai(block, place))
        elif kind == "tool_result":
            text, images = _tool_result_to_openai(block.get("content"), place)
            tool_messages.append(
                {
                    "role": "tool",
                    "tool_call_id": _string(block, "tool_use_id", place),
                    "content": text,
                }
            )
            # OpenAI tool messages hold text only; their images follow as the user's.
            parts.extend(images)
        elif kind not in ("thinking", "redacted_thinking"):
            raise InvalidRequest(
                f"{place}.type: {kind!r} blocks cannot be translated", param=f"{place}.type"
            )
    if parts or not tool_messages:
        if len(parts) == 1 and parts[0]["type"] == "text":
            tool_messages.append({"role": "user", "content": parts[0]["text"]})
        else:
            tool_messages.append({"role": "user", "content": parts or ""})
    return tool_messages


def _tool_result_to_openai(content: Any, where: str) -> tuple[str, list[dict[str, Any]]]:
    if content is None or isinstance(content, str):
        return content or "", []
    if not isinstance(content, list):
        raise InvalidRequest(
            f"{where}.content: must be a string or a list of blocks", param=f"{where}.content"
        )
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for position, block in enumerate(content):
        place = f"{where}.content[{position}]"
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "text":
            texts.append(_string(block, "text", place))
        elif kind == "image":
            images.append(_image_to_openai(block, place))
        else:
            raise InvalidRequest(f"{place}: must be a text or image block", param=place)
    return "\n".join(texts), images


def _image_to_openai(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    if isinstance(source, Mapping):
        kind = source.get("type")
        if kind == "base64":
            media_type = _string(source, "media_type", f"{where}.source")
            data = _string(source, "data", f"{where}.source")
            return {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{data}"}}
        if kind == "url":
            url = _string(source, "url", f"{where}.source")
            return {"type": "image_url", "image_url": {"url": url}}
    raise InvalidRequest(
        f"{where}.source: must be a base64 or url image source", param=f"{where}.source"
    )


def _assistant_to_openai(content: list[Mapping[str, Any]], where: str) -> dict[str, Any]:
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for position, block in enumerate(content):
        place = f"{where}.content[{position}]"
        kind = block["type"]
        if kind == "text":
            texts.append(_string(block, "text", place))
        elif kind == "tool_use":
            arguments = block.get("input", {})
            if not isinstance(arguments, Mapping):
                raise InvalidRequest(f"{place}.input: must be an object", param=f"{place}.input")
            tool_calls.append(
                {
                    "id": _string(block, "id", place),
                    "type": "function",
                    "function": {
                        "name": _string(block, "name", place),
                        "arguments": _dumps(arguments),
                    },
                }
            )
        elif kind not in ("thinking", "redacted_thinking"):
            # Thinking blocks are signed by Anthropic; no other upstream can take them back.
            raise InvalidRequest(
                f"{place}.type: {kind!r} blocks cannot be translated", param=f"{place}.type"
            )
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not tool_calls else None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def _tool_to_openai(tool: Any, where: str) -> dict[str, Any]:
    if not isinstance(tool, Mapping):
        raise InvalidRequest(f"{where}: must be an object", param=where)
    kind = tool.get("type")
    if kind not in (None, "custom"):
        raise InvalidRequest(
            f"{where}.type: server tool {kind!r} cannot be translated", param=f"{where}.type"
        )
    schema = tool.get("input_schema")
    if not isinstance(schema, Mapping):
        raise InvalidRequest(
            f"{where}.input_schema: must be a JSON schema object", param=f"{where}.input_schema"
        )
    function: dict[str, Any] = {"name": _string(tool, "name", where), "parameters": schema}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _tool_choice_to_openai(choice: Any) -> dict[str, Any]:
    if not isinstance(choice, Mapping):
        raise InvalidRequest("tool_choice: must be an object", param="tool_choice")
    kind = choice.get("type")
    out: dict[str, Any] = {}
    if kind in _TOOL_CHOICE_TO_OPENAI:
        out["tool_choice"] = _TOOL_CHOICE_TO_OPENAI[kind]
    elif kind == "tool":
        name = _string(choice, "name", "tool_choice")
        out["tool_choice"] = {"type": "function", "function": {"name": name}}
    else:
        raise InvalidRequest(
            "tool_choice.type: must be auto, any, tool or none", param="tool_choice.type"
        )
    if choice.get("disable_parallel_tool_use") is True:
        out["parallel_tool_calls"] = False
    return out


# --- OpenAI answer -> Anthropic answer (the /v1/messages endpoint) ------------------


def openai_response_to_messages(
    body: Mapping[str, Any], *, model: str | None = None
) -> dict[str, Any]:
    """An OpenAI chat completion as an Anthropic message (``model`` overrides the name)."""
    choices = body.get("choices") or ()
    choice = choices[0] if choices and isinstance(choices[0], Mapping) else {}
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    text = _openai_text(message.get("content")) or message.get("refusal")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    for position, call in enumerate(message.get("tool_calls") or ()):
        if not isinstance(call, Mapping):
            continue
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{position}",
                "name": function.get("name") or "",
                "input": _arguments(function.get("arguments")),
            }
        )
    stop_reason = _ANTHROPIC_STOP.get(choice.get("finish_reason") or "stop", "end_turn")
    if stop_reason == "end_turn" and message.get("tool_calls"):
        stop_reason = "tool_use"  # some local servers finish tool calls with "stop"
    return {
        "id": body.get("id") or _message_id(),
        "type": "message",
        "role": "assistant",
        "model": model or body.get("model") or "",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": _usage_to_anthropic(body.get("usage")),
    }


class OpenAIChunksToMessagesEvents:
    """OpenAI ``chat.completion.chunk`` dicts in, Anthropic stream events out.

    ``feed`` each chunk, then ``finish`` once the chunks end: the stop reason and
    usage arrive with the last chunks, so ``message_delta`` and ``message_stop``
    are only written then. Blocks are written one after another; a new block
    closes the one before.
    """

    def __init__(self, *, model: str | None = None) -> None:
        self._model = model
        self._started = False
        self._index = -1  # index of the last block started
        self._open: str | None = None  # "text" or "tool_use": the block being written
        self._tool_blocks: dict[Any, int] = {}  # OpenAI tool-call index -> block index
        self._open_tool: Any = None
        self._stop_reason: str | None = None
        self._usage: Mapping[str, Any] | None = None

    def feed(self, chunk: Mapping[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if not self._started:
            events.append(self._message_start(chunk))
        usage = chunk.get("usage")
        if isinstance(usage, Mapping):
            self._usage = usage
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # an Anthropic message has one choice
            delta = choice.get("delta") or {}
            text = delta.get("content") or delta.get("refusal")
            if isinstance(text, str) and text:
                events.extend(self._text(text))
            for call in delta.get("tool_calls") or ():
                events.extend(self._tool_call(call))
            finish = choice.get("finish_reason")
            if finish:
                self._stop_reason = _ANTHROPIC_STOP.get(finish, "end_turn")
        return events

    def finish(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if not self._started:
            events.append(self._message_start({}))
        events.extend(self._close_block())
        stop_reason = self._stop_reason or "end_turn"
        if stop_reason == "end_turn" and self._tool_blocks:
            stop_reason = "tool_use"
        usage = _usage_to_anthropic(self._usage)
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": usage,
            }
        )
        events.append({"type": "message_stop"})
        return events

    def _message_start(self, chunk: Mapping[str, Any]) -> dict[str, Any]:
        self._started = True
        usage = _usage_to_anthropic(
            chunk.get("usage") if isinstance(chunk.get("usage"), Mapping) else None
        )
        return {
            "type": "message_start",
            "message": {
                "id": chunk.get("id") or _message_id(),
                "type": "message",
                "role": "assistant",
                "model": self._model or chunk.get("model") or "",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": usage,
            },
        }

    def _text(self, text: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if self._open != "text":
            events.extend(self._start_block({"type": "text", "text": ""}, "text"))
        events.append(
            {
                "type": "content_block_delta",
                "index": self._index,
                "delta": {"type": "text_delta", "text": text},
            }
        )
        return events

    def _tool_call(self, call: Mapping[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        key = call.get("index")
        if not _is_int(key):
            # Some servers leave out "index": a new id starts a call, no id continues one.
            key = call.get("id") or self._open_tool
        function = call.get("function") or {}
        block = self._tool_blocks.get(key)
        if block is None:
            events.extend(
                self._start_block(
                    {
                        "type": "tool_use",
                        "id": call.get("id") or f"toolu_{self._index + 1}",
                        "name": function.get("name") or "",
                        "input": {},
                    },
                    "tool_use",
                )
            )
            block = self._tool_blocks[key] = self._index
            self._open_tool = key
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            events.append(
                {
                    "type": "content_block_delta",
                    "index": block,
                    "delta": {"type": "input_json_delta", "partial_json": arguments},
                }
            )
        return events

    def _start_block(self, content_block: dict[str, Any], kind: str) -> list[dict[str, Any]]:
        events = self._close_block()
        self._index += 1
        self._open = kind
        events.append(
            {"type": "content_block_start", "index": self._index, "content_block": content_block}
        )
        return events

    def _close_block(self) -> list[dict[str, Any]]:
        if self._open is None:
            return []
        self._open = None
        return [{"type": "content_block_stop", "index": self._index}]


async def openai_stream_to_messages(
    chunks: AsyncIterable[Mapping[str, Any]], *, model: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Anthropic stream events for a stream of OpenAI chunks.

    Exceptions from ``chunks`` (a cut stream) pass through unchanged and
    ``message_stop`` is not written: the endpoint ends the stream with an
    ``error`` event instead.
    """
    converter = OpenAIChunksToMessagesEvents(model=model)
    async for chunk in chunks:
        for event in converter.feed(chunk):
            yield event
    for event in converter.finish():
        yield event


# --- OpenAI request -> Anthropic request (the anthropic provider) --------------------


def openai_request_to_messages(body: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI chat request as an Anthropic Messages request."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise InvalidRequest("messages: must be a list", param="messages")
    n = body.get("n")
    if _is_int(n) and n > 1:
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
            text = _openai_text(content)
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
                    "content": _openai_text(content),
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
    request["max_tokens"] = max_tokens if _is_int(max_tokens) else DEFAULT_MAX_TOKENS
    temperature = body.get("temperature")
    if _is_number(temperature):
        request["temperature"] = min(temperature, 1.0)  # OpenAI goes to 2, Anthropic to 1
    if _is_number(body.get("top_p")):
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
    text = _openai_text(message.get("content"))
    if text:
        blocks.append({"type": "text", "text": text})
    for position, call in enumerate(message.get("tool_calls") or ()):
        if not isinstance(call, Mapping):
            continue
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{position}",
                "name": function.get("name") or "",
                "input": _arguments(function.get("arguments")),
            }
        )
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
                        "arguments": _dumps(block.get("input") or {}),
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
                    "arguments": _dumps(initial) if initial else "",
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


# --- shared -------------------------------------------------------------------------


def _usage_to_openai(usage: Any) -> dict[str, Any]:
    usage = usage if isinstance(usage, Mapping) else {}
    cache_read = _count(usage.get("cache_read_input_tokens"))
    # Anthropic counts cached prompt tokens apart; OpenAI's prompt_tokens includes them.
    prompt = (
        _count(usage.get("input_tokens"))
        + cache_read
        + _count(usage.get("cache_creation_input_tokens"))
    )
    completion = _count(usage.get("output_tokens"))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read},
    }


def _usage_to_anthropic(usage: Any) -> dict[str, int]:
    usage = usage if isinstance(usage, Mapping) else {}
    details = usage.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, Mapping) else 0
    prompt = _count(usage.get("prompt_tokens"))
    return {
        "input_tokens": max(0, prompt - cached),
        "output_tokens": _count(usage.get("completion_tokens")),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def _openai_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return ""


def _arguments(text: Any) -> dict[str, Any]:
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


def _string(block: Mapping[str, Any], key: str, where: str) -> str:
    value = block.get(key)
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}.{key}: must be a string", param=f"{where}.{key}")
    return value


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _count(value: Any) -> int:
    return int(value) if _is_number(value) and 0 < value < math.inf else 0


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _message_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"
