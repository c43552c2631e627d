"""Checks on incoming OpenAI request bodies: wrong types become 400s that name the field.

Plain functions over dicts (no models on the hot path). They check what the
gateway relies on and the types of the common parameters; anything else passes
through to the upstream untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from steadyllm.errors import InvalidRequest

__all__ = ["check_chat_request", "check_embeddings_request", "take_metadata"]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number_in(low: float, high: float) -> Callable[[Any], bool]:
    return lambda v: _is_number(v) and low <= v <= high


def _positive_int(value: Any) -> bool:
    return _is_int(value) and value > 0


def _stop(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, list) and len(value) <= 4 and all(isinstance(s, str) for s in value)


def _response_format(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    kind = value.get("type")
    if kind == "json_schema":
        schema = value.get("json_schema")
        return isinstance(schema, dict) and isinstance(schema.get("schema", {}), dict)
    return kind in ("text", "json_object")


_CHAT_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "stream": (lambda v: isinstance(v, bool), "a boolean"),
    "temperature": (_number_in(0, 2), "a number between 0 and 2"),
    "top_p": (_number_in(0, 1), "a number between 0 and 1"),
    "n": (lambda v: _is_int(v) and 1 <= v <= 128, "an integer between 1 and 128"),
    "max_tokens": (_positive_int, "a positive integer"),
    "max_completion_tokens": (_positive_int, "a positive integer"),
    "presence_penalty": (_number_in(-2, 2), "a number between -2 and 2"),
    "frequency_penalty": (_number_in(-2, 2), "a number between -2 and 2"),
    "seed": (_is_int, "an integer"),
    "stop": (_stop, "a string or a list of up to 4 strings"),
    "user": (lambda v: isinstance(v, str), "a string"),
    "tools": (
        lambda v: isinstance(v, list) and all(isinstance(t, dict) for t in v),
        "a list of tool objects",
    ),
    "tool_choice": (lambda v: isinstance(v, str | dict), "a string or an object"),
    "response_format": (_response_format, "an object with type text, json_object or json_schema"),
    "stream_options": (lambda v: isinstance(v, dict), "an object"),
    "logit_bias": (lambda v: isinstance(v, dict), "an object"),
    "metadata": (
        lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
        "an object with string keys",
    ),
}


def check_chat_request(body: Any) -> dict[str, Any]:
    """Return ``body`` if it is a usable chat request, else raise ``InvalidRequest``."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    _check_model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest(
            "'messages' must be a non-empty list of message objects.", param="messages"
        )
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            where = f"messages[{index}]"
            raise InvalidRequest(f"'{where}' must be an object.", param=where)
        role = message.get("role")
        if type(role) is not str or role not in _ROLES:  # a list would not hash: a 500
            where = f"messages[{index}]"
            raise InvalidRequest(
                f"'{where}.role' must be one of {', '.join(sorted(_ROLES))}; got {role!r}.",
                param=f"{where}.role",
            )
        content = message.get("content")
        if content is None:
            if role != "assistant" or not message.get("tool_calls"):
                where = f"messages[{index}]"
                raise InvalidRequest(f"'{where}.content' is required.", param=f"{where}.content")
        elif not isinstance(content, str | list):
            where = f"messages[{index}]"
            raise InvalidRequest(
                f"'{where}.content' must be a string or a list of content parts.",
                param=f"{where}.content",
            )
        elif type(content) is list and not all(isinstance(part, dict) for part in content):
            where = f"messages[{index}]"  # e.g. [null]: the cache key and upstreams need objects
            raise InvalidRequest(
                f"'{where}.content' parts must be objects.", param=f"{where}.content"
            )
    # The body's own keys (a handful) against the table, not the table (~20) against the
    # body; on a failure the table's order decides which field is reported.
    for field, value in body.items():
        check = _CHAT_FIELDS.get(field)
        if check is not None and value is not None and not check[0](value):
            _raise_first_invalid(body)
    return body


def _raise_first_invalid(body: dict[str, Any]) -> None:
    for field, (ok, expected) in _CHAT_FIELDS.items():
        value = body.get(field)
        if value is not None and not ok(value):
            raise InvalidRequest(f"'{field}' must be {expected}; got {value!r}.", param=field)


def check_embeddings_request(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    _check_model(body)
    value = body.get("input")
    valid = (isinstance(value, str) and value != "") or (
        isinstance(value, list)
        and bool(value)
        and (
            all(isinstance(v, str) for v in value)
            or all(_is_int(v) for v in value)
            or all(isinstance(v, list) and all(_is_int(t) for t in v) for v in value)
        )
    )
    if not valid:
        raise InvalidRequest(
            "'input' must be a non-empty string, a list of strings, or token arrays.",
            param="input",
        )
    return body


def take_metadata(body: dict[str, Any]) -> dict[str, str]:
    """The client's ``metadata`` (conversation_id, project_id, agent_type, ...).

    Removed from the body: it is for the gateway's records, and some upstreams
    refuse it.
    """
    metadata = body.pop("metadata", None)
    if not isinstance(metadata, dict):
        return {}
    return {str(k): str(v) for k, v in metadata.items()}


def _check_model(body: dict[str, Any]) -> None:
    model = body.get("model")
    if model is None or model == "":
        raise InvalidRequest("You must provide a model parameter.", param="model")
    if not isinstance(model, str):
        raise InvalidRequest("'model' must be a string.", param="model")
