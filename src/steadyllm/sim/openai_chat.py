"""The OpenAI chat format of the simulated upstream: request, reply and stream chunks.

Generation is :func:`steadyllm.sim.generation.complete`; this module validates an
OpenAI chat request, reads it into a :class:`~steadyllm.sim.generation.Prompt`,
and writes ``chat.completion`` bodies and ``chat.completion.chunk`` lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

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

__all__ = ["SYSTEM_FINGERPRINT", "chat_chunks", "chat_prompt", "chat_reply"]

SYSTEM_FINGERPRINT = "steadyllm-sim"

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
# Fields that only cut or carry the answer stay out of the seed, so a cut reply is a
# prefix of the whole one and a streamed reply joins up to the plain one.
_UNHASHED = frozenset(
    {"stream", "stream_options", "max_tokens", "max_completion_tokens", "stop", "n", "user"}
) | {"metadata"}


def chat_prompt(body: Mapping[str, Any], *, salt: int = 0) -> Prompt:
    """Validate an OpenAI chat request and reduce it to a :class:`Prompt`."""
    require_model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise SimRequestError("messages must be a non-empty array", param="messages")
    system: list[str] = []
    last_user = ""
    tokens = 0
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping) or message.get("role") not in _ROLES:
            raise SimRequestError(
                f"messages[{index}] needs a role, one of {', '.join(sorted(_ROLES))}",
                param=f"messages[{index}].role",
            )
        text = content_text(message.get("content"))
        tokens += MESSAGE_OVERHEAD + count_tokens(text)
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping):
                tokens += count_tokens(str(function.get("name", "")))
                tokens += count_tokens(str(function.get("arguments", "")))
        if message["role"] in ("system", "developer"):
            system.append(text)
        elif message["role"] == "user":
            last_user = text
    tools = _tools(body.get("tools"))
    tool_choice, forced = _tool_choice(body.get("tool_choice"), tools)
    json_object, schema = _response_format(body.get("response_format"))
    return Prompt(
        seed=request_seed(body, salt=salt, unhashed=_UNHASHED),
        system="\n".join(system),
        last_user=last_user,
        input_tokens=tokens,
        tools=tools,
        tool_choice=tool_choice,
        forced_tool=forced,
        after_tool_result=messages[-1]["role"] in ("tool", "function"),
        json_schema=schema,
        json_object=json_object,
        stop=stop_sequences(body.get("stop"), param="stop", limit=4),
        max_tokens=_max_tokens(body),
    )


def _tools(raw: Any) -> tuple[Tool, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise SimRequestError("tools must be an array", param="tools")
    tools = []
    for index, tool in enumerate(raw):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(name, str) or not name:
            raise SimRequestError(
                f"tools[{index}] must be a function with a name", param=f"tools[{index}]"
            )
        assert isinstance(function, Mapping)
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        tools.append(Tool(name, parameters))
    return tuple(tools)


def _tool_choice(
    raw: Any, tools: tuple[Tool, ...]
) -> tuple[Literal["auto", "none", "required"], str | None]:
    if raw is None or raw == "auto":
        return "auto", None
    if raw == "none":
        return "none", None
    if raw == "required" and tools:
        return "required", None
    function = raw.get("function") if isinstance(raw, Mapping) else None
    name = function.get("name") if isinstance(function, Mapping) else None
    if isinstance(name, str) and any(tool.name == name for tool in tools):
        return "auto", name
    raise SimRequestError(
        "tool_choice must be auto, none, required (with tools) or name a given function",
        param="tool_choice",
    )


def _response_format(raw: Any) -> tuple[bool, Mapping[str, Any] | None]:
    if raw is None:
        return False, None
    kind = raw.get("type") if isinstance(raw, Mapping) else None
    if kind == "text":
        return False, None
    if kind == "json_object":
        return True, None
    if kind == "json_schema":
        assert isinstance(raw, Mapping)
        spec = raw.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if not isinstance(schema, Mapping):
            raise SimRequestError(
                "response_format.json_schema.schema must be an object",
                param="response_format.json_schema",
            )
        return False, schema
    raise SimRequestError(
        "response_format.type must be text, json_object or json_schema", param="response_format"
    )


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    newer = positive_int(body, "max_completion_tokens")
    return newer if newer is not None else positive_int(body, "max_tokens")


def chat_reply(body: Mapping[str, Any], *, salt: int = 0, created: int = 0) -> dict[str, Any]:
    """The ``chat.completion`` body answering ``body``; ``created`` is its timestamp."""
    prompt = chat_prompt(body, salt=salt)
    completions = _choices(body, prompt)
    return {
        "id": f"chatcmpl-sim{prompt.seed[:24]}",
        "object": "chat.completion",
        "created": created,
        "model": body["model"],
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [
            {
                "index": index,
                "message": _message(completion),
                "logprobs": None,
                "finish_reason": completion.finish_reason,
            }
            for index, completion in enumerate(completions)
        ],
        "usage": _usage(prompt, completions),
    }


def chat_chunks(
    body: Mapping[str, Any],
    *,
    salt: int = 0,
    created: int = 0,
    include_usage: bool | None = None,
) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` dicts of the streamed reply, in order.

    Per choice: a role chunk, one chunk per token piece (text, or tool-call
    arguments after a chunk naming the call), a finish chunk. Then, when
    ``include_usage`` (default: the body's ``stream_options.include_usage``), a
    final chunk with no choices and the usage; the others then carry
    ``"usage": null`` as OpenAI's do.
    """
    prompt = chat_prompt(body, salt=salt)
    completions = _choices(body, prompt)
    if include_usage is None:
        options = body.get("stream_options")
        include_usage = isinstance(options, Mapping) and bool(options.get("include_usage"))
    base = {
        "id": f"chatcmpl-sim{prompt.seed[:24]}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": body["model"],
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        out = {**base, "choices": [choice]}
        if include_usage:
            out["usage"] = None
        return out

    chunks = []
    for index, completion in enumerate(completions):
        chunks.append(chunk(index, {"role": "assistant", "content": ""}))
        call = completion.tool_call
        if call is not None:
            opening = {"index": 0, "id": call.id, "type": "function"}
            opening["function"] = {"name": call.name, "arguments": ""}
            chunks.append(chunk(index, {"tool_calls": [opening]}))
            for piece in pieces(call.arguments):
                delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                chunks.append(chunk(index, delta))
        else:
            chunks.extend(chunk(index, {"content": piece}) for piece in pieces(completion.text))
        chunks.append(chunk(index, {}, completion.finish_reason))
    if include_usage:
        chunks.append({**base, "choices": [], "usage": _usage(prompt, completions)})
    return chunks


def _choices(body: Mapping[str, Any], prompt: Prompt) -> list[Completion]:
    count = positive_int(body, "n", limit=128) or 1
    return [complete(prompt, index) for index in range(count)]


def _message(completion: Completion) -> dict[str, Any]:
    call = completion.tool_call
    if call is None:
        return {"role": "assistant", "content": completion.text, "refusal": None}
    function = {"name": call.name, "arguments": call.arguments}
    return {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [{"id": call.id, "type": "function", "function": function}],
    }


def _usage(prompt: Prompt, completions: list[Completion]) -> dict[str, int]:
    output = sum(completion.output_tokens for completion in completions)
    return {
        "prompt_tokens": prompt.input_tokens,
        "completion_tokens": output,
        "total_tokens": prompt.input_tokens + output,
    }
