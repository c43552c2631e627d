"""The schemas of ``/openapi.json``: request bodies, as the handlers and their parsers
accept them (``openai_request``, ``translate/anthropic_inbound``, ``keys/admin``,
``experiments/model``, ``lifecycle/feedback``, ...), and the small builders.

Bodies that are passed through to an upstream (chat, embeddings) allow properties
the gateway does not read; bodies the gateway owns (keys) list every property.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "BLOCK",
    "BOOL_TEXT",
    "CHAT_MESSAGE",
    "CHAT_REQUEST",
    "CONTENT_PART",
    "EMBEDDINGS_REQUEST",
    "ERROR",
    "EXPERIMENT",
    "FEEDBACK",
    "IMAGE_BLOCK",
    "INT",
    "KEY_CREATE",
    "KEY_FIELDS",
    "KEY_UPDATE",
    "LIMITS",
    "MESSAGES_REQUEST",
    "NULLABLE_STR1",
    "NUM",
    "OBJ",
    "SHADOW_START",
    "STR",
    "STR1",
    "TEXT_BLOCK",
    "TIERS",
    "TOKENS",
    "VARIANT_BODY",
    "VERSION",
    "VERSION_BODY",
    "Schema",
    "integer",
    "number",
    "obj",
]

Schema = dict[str, Any]

ERROR: Schema = {"$ref": "#/components/schemas/Error"}
STR: Schema = {"type": "string"}
STR1: Schema = {"type": "string", "minLength": 1}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL_TEXT: Schema = {"type": "string", "enum": ["true", "false"]}
OBJ: Schema = {"type": "object"}
TIERS = ["CPU_ONLY", "IGPU", "LOW_VRAM_GPU", "MID_VRAM_GPU", "HIGH_VRAM_GPU", "MULTI_GPU"]


def obj(properties: Schema, required: Iterable[str] = (), *, extra: bool = True) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if not extra:
        schema["additionalProperties"] = False
    return schema


def number(low: float, high: float) -> Schema:
    return {"type": "number", "minimum": low, "maximum": high}


def integer(low: int, high: int | None = None) -> Schema:
    schema: Schema = {"type": "integer", "minimum": low}
    if high is not None:
        schema["maximum"] = high
    return schema


VERSION = integer(1, 2**31 - 1)  # a prompt version: an INTEGER column


CONTENT_PART: Schema = {
    "anyOf": [
        obj({"type": {"const": "text"}, "text": STR}, ["type", "text"]),
        obj(
            {"type": {"const": "image_url"}, "image_url": obj({"url": STR}, ["url"])},
            ["type", "image_url"],
        ),
    ]
}
CHAT_MESSAGE = obj(
    {
        "role": {"enum": ["system", "developer", "user", "assistant", "tool", "function"]},
        "content": {"anyOf": [STR, {"type": "array", "items": CONTENT_PART}]},
        "name": STR,
        "tool_call_id": STR,
        "tool_calls": {"type": "array", "items": OBJ},
    },
    ["role", "content"],
)
CHAT_REQUEST = obj(
    {
        "model": STR1,
        "messages": {"type": "array", "minItems": 1, "items": CHAT_MESSAGE},
        "stream": {"type": "boolean"},
        "temperature": number(0, 2),
        "top_p": number(0, 1),
        "n": integer(1, 128),
        "max_tokens": integer(1),
        "max_completion_tokens": integer(1),
        "presence_penalty": number(-2, 2),
        "frequency_penalty": number(-2, 2),
        "seed": INT,
        "stop": {"anyOf": [STR, {"type": "array", "items": STR, "maxItems": 4}]},
        "user": STR,
        "tools": {"type": "array", "items": OBJ},
        "tool_choice": {"anyOf": [STR, OBJ]},
        "response_format": obj(
            {"type": {"enum": ["text", "json_object", "json_schema"]}, "json_schema": OBJ},
            ["type"],
        ),
        "stream_options": obj({"include_usage": {"type": "boolean"}}),
        "logit_bias": OBJ,
        "metadata": {"type": "object", "additionalProperties": STR},
    },
    ["model", "messages"],
)
TOKENS: Schema = {"type": "array", "minItems": 1, "items": INT}
EMBEDDINGS_REQUEST = obj(
    {
        "model": STR1,
        "input": {
            "anyOf": [
                STR1,
                {"type": "array", "minItems": 1, "items": STR},
                TOKENS,
                {"type": "array", "minItems": 1, "items": TOKENS},
            ]
        },
        "encoding_format": {"enum": ["float", "base64"]},
        "dimensions": integer(1),
        "user": STR,
        "metadata": {"type": "object", "additionalProperties": STR},
    },
    ["model", "input"],
)
TEXT_BLOCK = obj({"type": {"const": "text"}, "text": STR}, ["type", "text"])
IMAGE_BLOCK = obj(
    {
        "type": {"const": "image"},
        "source": {
            "anyOf": [
                obj(
                    {"type": {"const": "base64"}, "media_type": STR, "data": STR},
                    ["type", "media_type", "data"],
                ),
                obj({"type": {"const": "url"}, "url": STR}, ["type", "url"]),
            ]
        },
    },
    ["type", "source"],
)
BLOCK: Schema = {
    "anyOf": [
        TEXT_BLOCK,
        IMAGE_BLOCK,
        obj(
            {"type": {"const": "tool_use"}, "id": STR, "name": STR, "input": OBJ},
            ["type", "id", "name"],
        ),
        obj(
            {
                "type": {"const": "tool_result"},
                "tool_use_id": STR,
                "content": {"anyOf": [STR, {"type": "array", "items": TEXT_BLOCK}]},
            },
            ["type", "tool_use_id"],
        ),
    ]
}
MESSAGES_REQUEST = obj(
    {
        "model": STR1,
        "messages": {
            "type": "array",
            "minItems": 1,
            "items": obj(
                {
                    "role": {"enum": ["user", "assistant"]},
                    "content": {"anyOf": [STR, {"type": "array", "items": BLOCK}]},
                },
                ["role", "content"],
            ),
        },
        "system": {"anyOf": [STR, {"type": "array", "items": TEXT_BLOCK}]},
        "max_tokens": integer(1),
        "temperature": number(0, 1),
        "top_p": number(0, 1),
        "top_k": integer(0),
        "stop_sequences": {"type": "array", "items": STR},
        "stream": {"type": "boolean"},
        "metadata": obj({"user_id": STR}),
        "tools": {
            "type": "array",
            "items": obj(
                {"name": STR1, "description": STR, "input_schema": OBJ},
                ["name", "input_schema"],
            ),
        },
        "tool_choice": obj(
            {
                "type": {"enum": ["auto", "any", "tool", "none"]},
                "name": STR,
                "disable_parallel_tool_use": {"type": "boolean"},
            },
            ["type"],
        ),
    },
    ["model", "messages"],
)
LIMITS = obj(
    {
        "requests_per_minute": integer(1),
        "requests_per_hour": integer(1),
        "requests_per_day": integer(1),
        "tokens_per_minute": integer(1),
        "budget_per_day": {"type": "number", "minimum": 0},
    },
    extra=False,
)
NULLABLE_STR1: Schema = {"anyOf": [STR1, {"type": "null"}]}
KEY_FIELDS: Schema = {
    "user": NULLABLE_STR1,
    "tier": STR,
    "allowed_models": {"anyOf": [{"type": "array", "items": STR}, {"type": "null"}]},
    "expires_at": {"anyOf": [NUM, {"type": "null"}]},
}
KEY_CREATE = obj({"name": STR, "tenant": STR1, "limits": LIMITS, **KEY_FIELDS}, extra=False)
KEY_UPDATE = obj({"name": STR, "limits": LIMITS, **KEY_FIELDS}, extra=False)
EXPERIMENT = obj(
    {
        "name": STR1,
        "route": STR1,
        "arms": {
            "type": "array",
            "minItems": 2,
            "items": {
                "anyOf": [
                    STR1,
                    obj(
                        {"variant": STR1, "weight": {"type": "number", "exclusiveMinimum": 0}},
                        ["variant"],
                    ),
                ]
            },
        },
        "subject": {"enum": ["user", "conversation"]},
        "outcome": STR,
        "alpha": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.5},
    },
    ["name", "route", "arms"],
)
FEEDBACK = obj(
    {
        "requestId": STR1,
        "conversationId": STR1,
        "action": STR,
        "rating": NUM,
        "text": {"type": "string", "maxLength": 10000},
        "messages": {"type": "array", "items": OBJ},
        "outcomes": OBJ,
        "variant": STR,
        "model": STR,
        "cost": NUM,
        "latencyMs": NUM,
        "tokens": integer(0, 2**31 - 1),
        "version": VERSION,
        "timestamp": {"type": "number", "minimum": 0},
    },
    ["requestId"],
)
VARIANT_BODY = obj({"variant": STR1}, ["variant"])
VERSION_BODY = obj({"variant": STR1, "version": VERSION}, ["variant", "version"])
SHADOW_START = obj(
    {
        "shadowVariant": STR1,
        "primaryVariant": STR1,
        "trafficPercent": number(0, 100),
        "targetSamples": integer(1),
        "autoPromote": {"type": "boolean"},
        "routes": {"type": "array", "items": STR},
    },
    ["shadowVariant", "primaryVariant"],
)
