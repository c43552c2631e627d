"""The data plane: ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models``,
``/v1/messages``. Parse at the edge, run the pipeline, write the answer."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from steadyllm.call import Call, Response, close_stream
from steadyllm.errors import InvalidRequest, NotFound
from steadyllm.gateway import Gateway
from steadyllm.server.sse import start_sse, write_anthropic_events, write_openai_chunks
from steadyllm.stages.record import new_id
from steadyllm.translate import anthropic as anthropic_format

__all__ = ["DataPlane"]

REQUEST_ID = web.RequestKey("request_id", str)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def request_id_of(request: web.Request) -> str:
    """The client's ``x-request-id`` when it is sane, else a new one."""
    if REQUEST_ID in request:
        return request[REQUEST_ID]
    incoming = request.headers.get("x-request-id")
    request_id = incoming if incoming and _REQUEST_ID.fullmatch(incoming) else f"req_{new_id()}"
    request[REQUEST_ID] = request_id
    return request_id


async def read_json(request: web.Request) -> Any:
    raw = await request.read()  # aiohttp enforces client_max_size (413)
    if not raw:
        raise InvalidRequest("The request body is empty; send a JSON object.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"We could not parse the JSON body of your request: {exc}.") from None


def response_headers(call: Call, response: Response) -> dict[str, str]:
    overhead_ms = max(0.0, (time.perf_counter() - call.started - call.upstream_seconds) * 1000)
    headers = {
        "x-request-id": call.request_id,
        "x-steadyllm-overhead-ms": f"{overhead_ms:.3f}",
        **call.response_headers,
        **response.headers,
    }
    if response.deployment:
        headers["x-steadyllm-deployment"] = response.deployment
    return headers


def _json(body: Any, headers: dict[str, str]) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json", headers=headers)


class DataPlane:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/chat/completions", self.chat),
            web.post("/v1/embeddings", self.embeddings),
            web.get("/v1/models", self.models),
            web.get("/v1/models/{model}", self.model),
            web.post("/v1/messages", self.messages),
        ]

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        call = self.gateway.new_call(
            "chat", body, headers=request.headers, request_id=request_id_of(request)
        )
        response = await self.gateway.handle(call)
        headers = response_headers(call, response)
        if response.chunks is None:
            return _json(response.body, headers)
        options = body.get("stream_options") or {}
        include_usage = bool(options.get("include_usage"))
        return await _stream(
            request,
            response,
            headers,
            lambda out, chunks: write_openai_chunks(out, chunks, include_usage=include_usage),
        )

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        call = self.gateway.new_call(
            "embeddings", body, headers=request.headers, request_id=request_id_of(request)
        )
        response = await self.gateway.handle(call)
        return _json(response.body, response_headers(call, response))

    async def models(self, request: web.Request) -> web.Response:
        headers = {"x-request-id": request_id_of(request)}
        return _json({"object": "list", "data": self.gateway.models()}, headers)

    async def model(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        for model in self.gateway.models():
            if model["id"] == name:
                return _json(model, {"x-request-id": request_id_of(request)})
        raise NotFound(f"The model `{name}` does not exist.", code="model_not_found", param="model")

    async def messages(self, request: web.Request) -> web.StreamResponse:
        """The Anthropic Messages API, served by any deployment through translation."""
        raw = await read_json(request)
        body = anthropic_format.messages_request_to_openai(raw)
        call = self.gateway.new_call(
            "chat", body, headers=request.headers, request_id=request_id_of(request)
        )
        response = await self.gateway.handle(call)
        headers = response_headers(call, response)
        if response.chunks is None:
            assert response.body is not None
            translated = anthropic_format.openai_response_to_messages(
                response.body, model=call.model
            )
            return _json(translated, headers)
        return await _stream(
            request,
            response,
            headers,
            lambda out, chunks: write_anthropic_events(
                out, anthropic_format.openai_stream_to_messages(chunks, model=call.model)
            ),
        )


async def _prepend(
    first: dict[str, Any] | None, rest: AsyncIterator[dict[str, Any]]
) -> AsyncIterator[dict[str, Any]]:
    if first is not None:
        yield first
    async for chunk in rest:
        yield chunk


async def _stream(
    request: web.Request,
    response: Response,
    headers: dict[str, str],
    write: Callable[[web.StreamResponse, AsyncIterator[dict[str, Any]]], Awaitable[None]],
) -> web.StreamResponse:
    """Send a stream; whatever happens, close it so every stage sees its end.

    The first chunk is taken before the response is prepared: that starts every
    stage's wrapper, so closing the stream runs their ``finally`` blocks (records,
    settlements) even when the client is gone before the first byte is sent.
    """
    chunks = response.chunks
    assert chunks is not None
    try:
        first = await anext(chunks, None)  # primed by the provider: no waiting
        out = await start_sse(request, headers)
        await write(out, _prepend(first, chunks))
        return out
    except (ConnectionError, asyncio.CancelledError):
        if response.outcome == "complete":
            response.outcome = "client_gone"
        raise
    finally:
        await close_stream(chunks)
