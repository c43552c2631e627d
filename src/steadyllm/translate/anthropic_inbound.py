"""The ``/v1/messages`` endpoint's translation: Anthropic in, Anthropic out. No I/O.

The gateway works in the OpenAI shape, so a client's Anthropic Messages request becomes
an OpenAI chat request (:func:`messages_request_to_openai`) and the answer goes back as
an Anthropic message (:func:`openai_response_to_messages`) or as Anthropic stream events
(:func:`openai_stream_to_messages`, built on :class:`OpenAIChunksToMessagesEvents`).

The request comes from a client, so its wrong shapes raise
:class:`~steadyllm.errors.InvalidRequest`; the answer was checked by the provider and is
read defensively.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator, Mapping
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
    "OpenAIChunksToMessagesEvents",
    "messages_request_to_openai",
    "openai_response_to_messages",
    "openai_stream_to_messages",
]

_ANTHROPIC_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
_TOOL_CHOICE_TO_OPENAI = {"auto": "auto", "any": "required", "none": "none"}


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
        if not is_int(max_tokens) or max_tokens < 1:
            raise InvalidRequest("max_tokens: must be a positive integer", param="max_tokens")
        request["max_tokens"] = max_tokens
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None:
            if not is_number(value):
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
                        "arguments": dumps(arguments),
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
    if isinstance(kind, str) and kind in _TOOL_CHOICE_TO_OPENAI:  # a list would not hash
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
    text = openai_text(message.get("content")) or message.get("refusal")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    content.extend(tool_use_blocks(message.get("tool_calls")))
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
        if not is_int(key):
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


def _usage_to_anthropic(usage: Any) -> dict[str, int]:
    usage = usage if isinstance(usage, Mapping) else {}
    details = usage.get("prompt_tokens_details")
    cached = token_count(details.get("cached_tokens")) if isinstance(details, Mapping) else 0
    prompt = token_count(usage.get("prompt_tokens"))
    return {
        "input_tokens": max(0, prompt - cached),
        "output_tokens": token_count(usage.get("completion_tokens")),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def _string(block: Mapping[str, Any], key: str, where: str) -> str:
    value = block.get(key)
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}.{key}: must be a string", param=f"{where}.{key}")
    return value


def _message_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"
