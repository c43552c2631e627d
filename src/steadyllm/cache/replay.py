"""Streams and whole answers, one from the other.

A streamed answer is kept as the ``chat.completion`` body it adds up to, so either
kind of request can be served from it; a hit on a streaming request replays that
body as ``chat.completion.chunk`` dicts of the usual shape: per choice a role
chunk, the content (or tool calls), a finish chunk, then a usage chunk with no
choices. Every chunk carries ``"usage"``, as upstreams do when asked for usage;
the server drops the usage chunk and field when the client did not ask for them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

__all__ = ["assemble", "replay_chunks", "stream_of"]


def _choice_message(parts: dict[str, Any]) -> dict[str, Any]:
    content = "".join(parts["content"])
    message: dict[str, Any] = {
        "role": parts["role"] or "assistant",
        "content": content if content or not parts["tool_calls"] else None,
        "refusal": "".join(parts["refusal"]) or None,
    }
    if parts["tool_calls"]:
        message["tool_calls"] = [
            {
                "id": call["id"],
                "type": call["type"] or "function",
                "function": {"name": call["name"], "arguments": call["arguments"]},
            }
            for _, call in sorted(parts["tool_calls"].items())
        ]
    return message


def assemble(chunks: Sequence[dict[str, Any]], usage: dict[str, Any] | None) -> dict[str, Any]:
    """The ``chat.completion`` body that a complete stream of ``chunks`` adds up to."""
    first = chunks[0] if chunks else {}
    choices: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        if usage is None and chunk.get("usage"):
            usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            index = int(choice.get("index") or 0)
            parts = choices.setdefault(
                index,
                {"role": None, "content": [], "refusal": [], "tool_calls": {}, "finish": None},
            )
            delta = choice.get("delta") or {}
            if delta.get("role"):
                parts["role"] = delta["role"]
            if isinstance(delta.get("content"), str):
                parts["content"].append(delta["content"])
            if isinstance(delta.get("refusal"), str):
                parts["refusal"].append(delta["refusal"])
            for call in delta.get("tool_calls") or ():
                slot = parts["tool_calls"].setdefault(
                    int(call.get("index") or 0),
                    {"id": None, "type": None, "name": "", "arguments": ""},
                )
                if call.get("id"):
                    slot["id"] = call["id"]
                if call.get("type"):
                    slot["type"] = call["type"]
                function = call.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                parts["finish"] = choice["finish_reason"]
    body: dict[str, Any] = {
        "id": first.get("id"),
        "object": "chat.completion",
        "created": first.get("created"),
        "model": first.get("model"),
    }
    if first.get("system_fingerprint") is not None:
        body["system_fingerprint"] = first["system_fingerprint"]
    body["choices"] = [
        {
            "index": index,
            "message": _choice_message(parts),
            "logprobs": None,
            "finish_reason": parts["finish"],
        }
        for index, parts in sorted(choices.items())
    ]
    if usage is not None:
        body["usage"] = usage
    return body


def replay_chunks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The chunks of a stream that adds up to ``body``."""
    base: dict[str, Any] = {
        "id": body.get("id"),
        "object": "chat.completion.chunk",
        "created": body.get("created"),
        "model": body.get("model"),
    }
    if body.get("system_fingerprint") is not None:
        base["system_fingerprint"] = body["system_fingerprint"]

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**base, "choices": [choice], "usage": None}

    out: list[dict[str, Any]] = []
    for position, choice in enumerate(body.get("choices") or ()):
        index = int(choice.get("index", position))
        message = choice.get("message") or {}
        out.append(chunk(index, {"role": message.get("role") or "assistant", "content": ""}))
        if message.get("content"):
            out.append(chunk(index, {"content": message["content"]}))
        if message.get("refusal"):
            out.append(chunk(index, {"refusal": message["refusal"]}))
        for number, call in enumerate(message.get("tool_calls") or ()):
            function = call.get("function") or {}
            delta = {
                "index": number,
                "id": call.get("id"),
                "type": call.get("type") or "function",
                "function": {
                    "name": function.get("name"),
                    "arguments": function.get("arguments", ""),
                },
            }
            out.append(chunk(index, {"tool_calls": [delta]}))
        out.append(chunk(index, {}, choice.get("finish_reason") or "stop"))
    if body.get("usage") is not None:
        out.append({**base, "choices": [], "usage": body["usage"]})
    return out


async def stream_of(chunks: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for chunk in chunks:
        yield chunk
