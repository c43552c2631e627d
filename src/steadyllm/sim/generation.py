"""The core of the simulated upstream: a request reduced to a :class:`Prompt`, answered.

Both wire formats (OpenAI chat, Anthropic Messages) read their request into a
``Prompt``; :func:`complete` answers it. It is pure: the random generator is seeded
from ``Prompt.seed`` (a hash of the request, see :func:`request_seed`) and the
choice index, so the same request always gets the same answer.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from steadyllm.sim.schema_values import example_value
from steadyllm.sim.tokenizer import count_tokens, truncate_tokens

__all__ = [
    "ECHO_SYSTEM_MARKER",
    "INVALID_API_KEY",
    "INVALID_JSON_MARKER",
    "LABEL",
    "MESSAGE_OVERHEAD",
    "Completion",
    "FinishReason",
    "Prompt",
    "SimRequestError",
    "Tool",
    "ToolCall",
    "complete",
    "content_text",
    "positive_int",
    "request_seed",
    "require_model",
    "stop_sequences",
]

MESSAGE_OVERHEAD = 3  # per message, as chat templates spend tokens on role and framing
LABEL = "[simulated]"
INVALID_JSON_MARKER = "[sim:invalid-json]"
ECHO_SYSTEM_MARKER = "[sim:echo-system]"
INVALID_API_KEY = "sim-invalid-key"  # refused with 401 by the server and the sim provider

FinishReason = Literal["stop", "length", "tool_calls"]

_INVALID_JSON = '{"simulated": true, "reply": "deliberately invalid JSON'
_SUMMARY_WORDS = 12
# Filler for the body of a text reply: plain words, so the token count is easy to check.
_VOCABULARY = (
    "the answer depends on context and on what matters most here so consider each part "
    "carefully a steady approach works well when requests arrive quickly and systems "
    "stay calm under load while every reply remains short clear and useful for testing"
)
_WORDS = tuple(_VOCABULARY.split())


class SimRequestError(ValueError):
    """A request the simulator refuses, as a real upstream would answer 400."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Prompt:
    """A request reduced to what generation reads; built from either wire format."""

    seed: str
    system: str
    last_user: str
    input_tokens: int
    tools: tuple[Tool, ...] = ()
    tool_choice: Literal["auto", "none", "required"] = "auto"
    forced_tool: str | None = None
    after_tool_result: bool = False  # the last message is a tool's result
    json_schema: Mapping[str, Any] | None = None
    json_object: bool = False
    stop: tuple[str, ...] = ()
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as OpenAI sends it


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    tool_call: ToolCall | None
    finish_reason: FinishReason
    stop_sequence: str | None  # the stop sequence that ended the text, if one did
    output_tokens: int


def complete(prompt: Prompt, index: int = 0) -> Completion:
    """Choice ``index`` of the reply to ``prompt``."""
    tool = _chosen_tool(prompt)
    if tool is not None:
        if INVALID_JSON_MARKER in prompt.last_user:
            arguments = _INVALID_JSON
        else:
            arguments = orjson.dumps(example_value(tool.parameters)).decode()
        call = ToolCall(f"call_sim_{_digest(prompt.seed, index)[:24]}", tool.name, arguments)
        tokens = count_tokens(tool.name) + count_tokens(arguments)
        return Completion("", call, "tool_calls", None, tokens)
    text = _reply_text(prompt, random.Random(f"{prompt.seed}:{index}"))
    finish: FinishReason = "stop"
    matched: str | None = None
    found = [(text.find(stop), stop) for stop in prompt.stop if stop in text]
    if found:
        position, matched = min(found)
        text = text[:position]
    if prompt.max_tokens is not None and count_tokens(text) > prompt.max_tokens:
        text = truncate_tokens(text, prompt.max_tokens)
        finish, matched = "length", None
    return Completion(text, None, finish, matched, count_tokens(text))


def _chosen_tool(prompt: Prompt) -> Tool | None:
    if not prompt.tools or prompt.tool_choice == "none":
        return None
    if prompt.forced_tool is not None:
        return next(tool for tool in prompt.tools if tool.name == prompt.forced_tool)
    if prompt.after_tool_result:
        # The mention that asked for the tool is still the last user message; calling
        # the tool again would loop an agent forever, so answer the result instead.
        return prompt.tools[0] if prompt.tool_choice == "required" else None
    said = prompt.last_user.lower()
    mentioned = [(said.find(t.name.lower()), i) for i, t in enumerate(prompt.tools) if t.name]
    mentioned = [pair for pair in mentioned if pair[0] >= 0]
    if mentioned:
        return prompt.tools[min(mentioned)[1]]
    return prompt.tools[0] if prompt.tool_choice == "required" else None


def _reply_text(prompt: Prompt, rng: random.Random) -> str:
    said = prompt.last_user
    if ECHO_SYSTEM_MARKER in said:
        if not prompt.system:
            return f"{LABEL} There is no system prompt."
        return f"{LABEL} The system prompt is: {prompt.system}"
    if INVALID_JSON_MARKER in said:
        return _INVALID_JSON
    if prompt.json_schema is not None:
        return orjson.dumps(example_value(prompt.json_schema)).decode()
    summary = _summary(said)
    if prompt.json_object:
        return orjson.dumps({"simulated": True, "reply": f"Re: {summary}"}).decode()
    sentences = " ".join(_sentence(rng) for _ in range(rng.randint(2, 4)))
    return f'{LABEL} Re: "{summary}" {sentences}'


def _summary(text: str) -> str:
    for marker in (INVALID_JSON_MARKER, ECHO_SYSTEM_MARKER):
        text = text.replace(marker, " ")
    words = text.split()
    if not words:
        return "(an empty message)"
    head = " ".join(words[:_SUMMARY_WORDS])
    return head + " ..." if len(words) > _SUMMARY_WORDS else head


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 11))]
    return " ".join(words).capitalize() + "."


def request_seed(body: Mapping[str, Any], *, salt: int, unhashed: Collection[str]) -> str:
    """A hex digest of ``body`` without the ``unhashed`` fields, salted."""
    material = {key: value for key, value in body.items() if key not in unhashed}
    options = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    payload = orjson.dumps(material, option=options, default=str)
    return hashlib.sha256(f"{salt}\0".encode() + payload).hexdigest()


def _digest(seed: str, index: int) -> str:
    return hashlib.sha256(f"{seed}:{index}".encode()).hexdigest()


# --- request reading shared by the wire formats ------------------------------------------


def content_text(content: Any) -> str:
    """The text of a message content: a string, or the text parts of a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, Mapping):
                if isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif part.get("content") is not None:  # a tool result holding parts
                    texts.append(content_text(part["content"]))
        return "\n".join(texts)
    raise SimRequestError("message content must be a string or an array of parts")


def require_model(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise SimRequestError("model is required", param="model")
    return model


def stop_sequences(raw: Any, *, param: str, limit: int) -> tuple[str, ...]:
    if raw is None:
        return ()
    stops = [raw] if isinstance(raw, str) else raw
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise SimRequestError(f"{param} must be a string or an array of strings", param=param)
    if len(stops) > limit:
        raise SimRequestError(f"{param} takes at most {limit} sequences", param=param)
    return tuple(stop for stop in stops if stop)


def positive_int(body: Mapping[str, Any], key: str, *, limit: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SimRequestError(f"{key} must be a positive integer", param=key)
    if limit is not None and value > limit:
        raise SimRequestError(f"{key} must be at most {limit}", param=key)
    return value
