"""The Anthropic Messages format of the simulated upstream: request, reply, stream events.

Generation is the engine's (:func:`steadyllm.sim.generation.complete`, same markers, same
tokenizer); this module reads a Messages request into a
:class:`~steadyllm.sim.generation.Prompt` and writes the answer in Anthropic's shapes.

Input tokens: per message ``MESSAGE_OVERHEAD`` plus the tokens of its text (text
blocks, tool results, tool-use inputs as JSON), plus the system prompt's tokens and
one more overhead when there is a system prompt. Output tokens: the reply text, or
a tool use's name plus its input as JSON. A tool use's input is always a valid
object here (the ``[sim:invalid-json]`` marker only breaks text), because the wire
format carries it as an object, not as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import orjson

from steadyllm.sim.generation import (
    MESSAGE_OVERHEAD,
    Completion,
    Prompt,
    SimRequestError,
    Tool,
    complete,
    content_text,
    positive_int,
    request_seed,
    require_model,
    stop_sequences,
)
from steadyllm.sim.tokenizer import count_tokens, pieces

__all__ = ["StopReason", "messages_events", "messages_prompt", "messages_reply"]

StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use"]

_UNHASHED = frozenset({"stream", "max_tokens", "stop_sequences", "metadata"})


def messages_prompt(body: Mapping[str, Any], *, salt: int = 0) -> Prompt:
    """Validate a Messages request and reduce it to a :class:`Prompt`."""
    require_model(body)
    max_tokens = positive_int(body, "max_tokens")
    if max_tokens is None:
        raise SimRequestError("max_tokens: Field required", param="max_tokens")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise SimRequestError("messages: at least one message is required", param="messages")
    system = content_text(body.get("system"))
    tokens = MESSAGE_OVERHEAD + count_tokens(system) if system else 0
    last_user = ""
    after_tool_result = False
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, Mapping) else None
        if role not in ("user", "assistant"):
            raise SimRequestError(
                f"messages.{index}.role: must be user or assistant", param="messages"
            )
        assert isinstance(message, Mapping)
        text, has_tool_result = _message_text(message.get("content"))
        tokens += MESSAGE_OVERHEAD + count_tokens(text)
        if role == "user":
            last_user = text
        after_tool_result = role == "user" and has_tool_result
    tools = _tools(body.get("tools"))
    tool_choice, forced = _tool_choice(body.get("tool_choice"), tools)
    return Prompt(
        seed=request_seed(body, salt=salt, unhashed=_UNHASHED),
        system=system,
        last_user=last_user,
        input_tokens=tokens,
        tools=tools,
        tool_choice=tool_choice,
        forced_tool=forced,
        after_tool_result=after_tool_result,
        stop=stop_sequences(body.get("stop_sequences"), param="stop_sequences", limit=1000),
        max_tokens=max_tokens,
    )


def messages_reply(body: Mapping[str, Any], *, salt: int = 0) -> dict[str, Any]:
    """The ``message`` body answering ``body``."""
    prompt = messages_prompt(body, salt=salt)
    completion = complete(prompt)
    content, output_tokens = _content(completion)
    return {
        "id": f"msg_sim{prompt.seed[:24]}",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": _stop_reason(completion),
        "stop_sequence": completion.stop_sequence,
        "usage": {"input_tokens": prompt.input_tokens, "output_tokens": output_tokens},
    }


def messages_events(body: Mapping[str, Any], *, salt: int = 0) -> list[dict[str, Any]]:
    """The stream events of the reply, in order; each dict's ``type`` is its SSE event name.

    ``message_start``, then per content block ``content_block_start``, one
    ``content_block_delta`` per token piece and ``content_block_stop``, then
    ``message_delta`` (stop reason, output tokens) and ``message_stop``.
    """
    reply = messages_reply(body, salt=salt)
    start = {**reply, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {"input_tokens": reply["usage"]["input_tokens"], "output_tokens": 0}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(reply["content"]):
        if block["type"] == "tool_use":
            opening = {**block, "input": {}}
            text = orjson.dumps(block["input"]).decode()
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces(text)]
        else:
            opening = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in pieces(block["text"])]
        events.append({"type": "content_block_start", "index": index, "content_block": opening})
        events.extend(
            {"type": "content_block_delta", "index": index, "delta": delta} for delta in deltas
        )
        events.append({"type": "content_block_stop", "index": index})
    stop = {"stop_reason": reply["stop_reason"], "stop_sequence": reply["stop_sequence"]}
    usage = {"output_tokens": reply["usage"]["output_tokens"]}
    events.append({"type": "message_delta", "delta": stop, "usage": usage})
    events.append({"type": "message_stop"})
    return events


def _content(completion: Completion) -> tuple[list[dict[str, Any]], int]:
    call = completion.tool_call
    if call is None:
        return [{"type": "text", "text": completion.text}], completion.output_tokens
    try:
        arguments = orjson.loads(call.arguments)
    except orjson.JSONDecodeError:
        arguments = {}
    tool_input = arguments if isinstance(arguments, dict) else {}
    block = {
        "type": "tool_use",
        "id": call.id.replace("call_sim_", "toolu_sim_", 1),
        "name": call.name,
        "input": tool_input,
    }
    tokens = count_tokens(call.name) + count_tokens(orjson.dumps(tool_input).decode())
    return [block], tokens


def _stop_reason(completion: Completion) -> StopReason:
    if completion.tool_call is not None:
        return "tool_use"
    if completion.finish_reason == "length":
        return "max_tokens"
    return "stop_sequence" if completion.stop_sequence is not None else "end_turn"


def _message_text(content: Any) -> tuple[str, bool]:
    """The text of a message's content, and whether it carries a tool result."""
    if not isinstance(content, list):
        return content_text(content), False
    texts = []
    has_tool_result = False
    for block in content:
        if not isinstance(block, Mapping):
            raise SimRequestError("content blocks must be objects", param="messages")
        if block.get("type") == "tool_use":
            texts.append(orjson.dumps(block.get("input") or {}).decode())
        elif block.get("type") == "tool_result":
            has_tool_result = True
            texts.append(content_text(block.get("content")))
        elif isinstance(block.get("text"), str):
            texts.append(block["text"])
    return "\n".join(texts), has_tool_result


def _tools(raw: Any) -> tuple[Tool, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise SimRequestError("tools: must be an array", param="tools")
    tools = []
    for index, tool in enumerate(raw):
        name = tool.get("name") if isinstance(tool, Mapping) else None
        if not isinstance(name, str) or not name:
            raise SimRequestError(f"tools.{index}.name: Field required", param="tools")
        assert isinstance(tool, Mapping)
        tools.append(Tool(name, tool.get("input_schema") or {"type": "object"}))
    return tuple(tools)


def _tool_choice(
    raw: Any, tools: tuple[Tool, ...]
) -> tuple[Literal["auto", "none", "required"], str | None]:
    kind = raw.get("type") if isinstance(raw, Mapping) else None
    if raw is None or kind == "auto":
        return "auto", None
    if kind == "none":
        return "none", None
    if kind == "any" and tools:
        return "required", None
    name = raw.get("name") if isinstance(raw, Mapping) else None
    if kind == "tool" and any(tool.name == name for tool in tools):
        return "auto", str(name)
    raise SimRequestError(
        "tool_choice: must be auto, none, any (with tools) or name a given tool",
        param="tool_choice",
    )
