"""The ``anthropic`` provider: Anthropic's Messages API behind the OpenAI shape.

Requests and answers are translated by :mod:`steadyllm.translate.anthropic`; this
module only adds the wire: headers, SSE, and Anthropic's error shapes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import orjson

from steadyllm.call import Call, Deployment, Response, Usage
from steadyllm.config import DeploymentSettings
from steadyllm.errors import InvalidRequest, UpstreamFailure
from steadyllm.providers._http import (
    UpstreamHttp,
    drain,
    sse_events,
    trace_headers,
    upstream_errors,
)
from steadyllm.providers.base import primed_stream, register_provider, upstream_body
from steadyllm.translate.anthropic import (
    MessagesEventsToOpenAIChunks,
    messages_response_to_openai,
    openai_request_to_messages,
)

__all__ = ["AnthropicProvider"]

DEFAULT_API_BASE = "https://api.anthropic.com"
API_VERSION = "2023-06-01"

# The HTTP status each error type comes with, for errors sent inside a stream
# (which arrive after a 200): it decides whether the failure is retryable.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


@register_provider("anthropic")
class AnthropicProvider:
    """One attempt per call against Anthropic's Messages API; never retries."""

    kind: ClassVar[str] = "anthropic"

    def __init__(self, settings: DeploymentSettings) -> None:
        base = (settings.api_base or DEFAULT_API_BASE).rstrip("/")
        if not base.endswith("/v1"):  # accept the base with or without its version
            base += "/v1"
        headers = {"anthropic-version": API_VERSION}
        if settings.api_key is not None:
            headers["x-api-key"] = settings.api_key.get_secret_value()
        self._http = UpstreamHttp(settings, headers)
        self._first_token = settings.timeout.first_token
        self._label = settings.name or f"anthropic:{settings.model}"
        self._messages_url = f"{base}/messages"
        self._models_url = f"{base}/models?limit=1000"

    async def chat(self, call: Call, deployment: Deployment) -> Response:
        name = deployment.name
        request = openai_request_to_messages(upstream_body(call, deployment))
        headers = trace_headers(call)
        if call.stream:
            return await primed_stream(
                self._chunks(request, headers, name),
                deployment=name,
                first_token_timeout=self._first_token,
            )
        data = await self._http.request_json(
            "POST", self._messages_url, deployment=name, body=request, headers=headers
        )
        if not isinstance(data, dict) or not isinstance(data.get("content"), list):
            raise UpstreamFailure(
                f"{name} sent a message without a content list", kind="malformed", deployment=name
            )
        with upstream_errors(name):
            body = messages_response_to_openai(data)
        return Response(body=body, usage=Usage.from_openai(body["usage"]), deployment=name)

    async def embed(self, call: Call, deployment: Deployment) -> Response:
        raise InvalidRequest("anthropic deployments do not serve embeddings")

    async def list_models(self) -> list[str]:
        data = await self._http.request_json("GET", self._models_url, deployment=self._label)
        models = data.get("data") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise UpstreamFailure(
                f"{self._label} sent a model list without a data list",
                kind="malformed",
                deployment=self._label,
            )
        return [str(m["id"]) for m in models if isinstance(m, dict) and "id" in m]

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _chunks(
        self, request: dict[str, Any], headers: dict[str, str] | None, name: str
    ) -> AsyncIterator[dict[str, Any]]:
        converter = MessagesEventsToOpenAIChunks()
        with upstream_errors(name):
            async with self._http.stream(
                self._messages_url, request, deployment=name, headers=headers
            ) as response:
                async for event_name, data in sse_events(response, name):
                    event = orjson.loads(data)
                    if not isinstance(event, dict):
                        raise UpstreamFailure(
                            f"{name} sent a stream event that is not an object",
                            kind="malformed",
                            deployment=name,
                        )
                    if event_name == "error" or event.get("type") == "error":
                        raise _stream_error(event, name)
                    for chunk in converter.feed(event):
                        yield chunk
                    if converter.done:
                        await drain(response)
                        return
        raise UpstreamFailure(
            f"the stream from {name} ended before message_stop", kind="reset", deployment=name
        )


def _stream_error(event: dict[str, Any], name: str) -> UpstreamFailure:
    """An ``error`` event, e.g. ``overloaded_error`` in the middle of a stream."""
    error = event.get("error")
    error = error if isinstance(error, dict) else {}
    kind = error.get("type")
    message = error.get("message")
    return UpstreamFailure(
        message if isinstance(message, str) and message else f"{name} sent an error event",
        kind="status",
        deployment=name,
        upstream_status=_ERROR_STATUS.get(kind, 500) if isinstance(kind, str) else 500,
    )
