"""How the simulator's answers look on the wire: SSE events and error bodies.

OpenAI streams are ``data: {json}`` events ending with ``data: [DONE]``; Anthropic
streams name each event (``event: <type>``) and end with ``message_stop``. Errors
take each API's own shape, with the ``type`` its SDKs map to exceptions.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson

__all__ = [
    "BROKEN_BODY",
    "DONE",
    "Wire",
    "anthropic_event",
    "broken_stream",
    "error_body",
    "openai_event",
    "retry_after_headers",
]

Wire = Literal["openai", "anthropic"]

DONE = b"data: [DONE]\n\n"
BROKEN_BODY = b'{"id": "chatcmpl-sim", "choices": [ <simulated malformed body>'
_BROKEN_EVENT = {
    "openai": b'data: {"id": "chatcmpl-sim", "choices": [ <simulated malformed chunk>\n\n',
    "anthropic": b'event: message_start\ndata: {"type": "message_start", <simulated>\n\n',
}
_OPENAI_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", "service_unavailable"),
}
_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
}


def openai_event(chunk: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def anthropic_event(event: dict[str, Any]) -> bytes:
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def broken_stream(wire: Wire) -> tuple[bytes, ...]:
    """A stream that ends properly but whose event data is not JSON."""
    if wire == "openai":
        return (_BROKEN_EVENT[wire], DONE)
    return (_BROKEN_EVENT[wire],)


def error_body(wire: Wire, status: int, message: str, param: str | None = None) -> dict[str, Any]:
    if wire == "anthropic":
        return {"type": "error", "error": {"type": _ANTHROPIC_ERRORS[status], "message": message}}
    error_type, code = _OPENAI_ERRORS[status]
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def retry_after_headers(seconds: float) -> dict[str, str]:
    # Retry-After is whole seconds by the HTTP spec; retry-after-ms keeps the precision
    # for clients that read it (the OpenAI and Anthropic SDKs do).
    whole = int(seconds) if seconds == int(seconds) else int(seconds) + 1
    return {"retry-after": str(whole), "retry-after-ms": str(round(seconds * 1000))}
