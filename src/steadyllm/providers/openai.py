"""The ``openai`` provider: any API that speaks OpenAI's chat completions.

OpenAI itself, Groq, Together, Hugging Face TGI and router, vLLM, Ollama and the
llama.cpp server all do; ``api_base`` says which, up to the version segment
(``https://api.groq.com/openai/v1``, ``http://127.0.0.1:8000/v1``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import orjson

from steadyllm.call import Call, Deployment, Response, Usage
from steadyllm.config import ConfigError, DeploymentSettings
from steadyllm.errors import UpstreamFailure
from steadyllm.providers._http import (
    UpstreamHttp,
    drain,
    sse_events,
    trace_headers,
    upstream_errors,
)
from steadyllm.providers.base import primed_stream, register_provider, upstream_body

__all__ = ["OpenAIProvider"]

_DONE = b"[DONE]"


@register_provider("openai")
class OpenAIProvider:
    """One attempt per call against an OpenAI-compatible upstream; never retries."""

    kind: ClassVar[str] = "openai"

    def __init__(self, settings: DeploymentSettings) -> None:
        if not settings.api_base:
            raise ConfigError(
                f"deployment {settings.name or settings.model!r}: provider openai needs api_base "
                "(e.g. https://api.openai.com/v1)"
            )
        base = settings.api_base.rstrip("/")
        headers: dict[str, str] = {}
        if settings.api_key is not None:
            headers["authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self._http = UpstreamHttp(settings, headers)
        self._first_token = settings.timeout.first_token
        self._label = settings.name or f"openai:{settings.model}"
        self._chat_url = f"{base}/chat/completions"
        self._embeddings_url = f"{base}/embeddings"
        self._models_url = f"{base}/models"

    async def chat(self, call: Call, deployment: Deployment) -> Response:
        name = deployment.name
        body = upstream_body(call, deployment)
        headers = trace_headers(call)
        if call.stream:
            # The gateway needs usage for cost whatever the client asked; the server
            # decides whether the client sees the usage chunk.
            options = body.get("stream_options")
            body["stream_options"] = {
                **(options if isinstance(options, Mapping) else {}),
                "include_usage": True,
            }
            return await primed_stream(
                self._chunks(body, headers, name),
                deployment=name,
                first_token_timeout=self._first_token,
            )
        data = await self._http.request_json(
            "POST", self._chat_url, deployment=name, body=body, headers=headers
        )
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise _malformed(name, "a chat completion without a choices list")
        return Response(body=data, usage=_usage(data.get("usage"), name), deployment=name)

    async def embed(self, call: Call, deployment: Deployment) -> Response:
        name = deployment.name
        data = await self._http.request_json(
            "POST",
            self._embeddings_url,
            deployment=name,
            body=upstream_body(call, deployment),
            headers=trace_headers(call),
        )
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise _malformed(name, "an embeddings answer without a data list")
        return Response(body=data, usage=_usage(data.get("usage"), name), deployment=name)

    async def list_models(self) -> list[str]:
        data = await self._http.request_json("GET", self._models_url, deployment=self._label)
        models = data.get("data") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise _malformed(self._label, "a model list without a data list")
        return [str(m["id"]) for m in models if isinstance(m, dict) and "id" in m]

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _chunks(
        self, body: dict[str, Any], headers: dict[str, str] | None, name: str
    ) -> AsyncIterator[dict[str, Any]]:
        finished = False
        with upstream_errors(name):
            async with self._http.stream(
                self._chat_url, body, deployment=name, headers=headers
            ) as response:
                async for _event, data in sse_events(response, name):
                    if data[:1] != b"{" and data.strip() == _DONE:
                        await drain(response)
                        return
                    chunk = _checked_chunk(orjson.loads(data), name)
                    if not finished:
                        finished = any(c.get("finish_reason") for c in chunk.get("choices") or ())
                    yield chunk
        # Some local servers end without [DONE]; after a finish reason the answer is whole.
        if not finished:
            raise UpstreamFailure(
                f"the stream from {name} ended before [DONE]", kind="reset", deployment=name
            )


def _checked_chunk(chunk: Any, name: str) -> dict[str, Any]:
    """The chunk, once it has the shape ``primed_stream`` and the stages rely on."""
    if not isinstance(chunk, dict):
        raise _malformed(name, "a stream chunk that is not an object")
    error = chunk.get("error")
    if error is not None:  # vLLM, TGI and routers report failures inside the stream
        raise _stream_error(error, name)
    choices = chunk.get("choices")
    if choices is not None:
        if not isinstance(choices, list):
            raise _malformed(name, "a stream chunk whose choices is not a list")
        for choice in choices:
            if not isinstance(choice, dict) or not isinstance(choice.get("delta") or {}, dict):
                raise _malformed(name, "a stream chunk with a malformed choice")
    if chunk.get("usage"):
        _usage(chunk["usage"], name)
    return chunk


def _usage(usage: Any, name: str) -> Usage:
    if usage is None:
        return Usage()
    if not isinstance(usage, dict):
        raise _malformed(name, "usage that is not an object")
    try:
        return Usage.from_openai(usage)
    except (TypeError, ValueError):
        raise _malformed(name, "usage with counts that are not numbers") from None


def _stream_error(error: Any, name: str) -> UpstreamFailure:
    message = error.get("message") if isinstance(error, dict) else error
    code = error.get("code") if isinstance(error, dict) else None
    status = code if isinstance(code, int) and 400 <= code <= 599 else 500
    return UpstreamFailure(
        str(message or f"{name} reported an error inside the stream"),
        kind="status",
        deployment=name,
        upstream_status=status,
    )


def _malformed(name: str, what: str) -> UpstreamFailure:
    return UpstreamFailure(f"{name} sent {what}", kind="malformed", deployment=name)
