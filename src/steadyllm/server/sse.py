"""Writing streams to the client as server-sent events.

A stream that breaks after it started ends with an explicit error event, never a
silent cut: OpenAI clients get ``data: {"error": ...}``, Anthropic clients an
``event: error``. Only a complete stream ends with ``data: [DONE]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web

from steadyllm.errors import GatewayError, InternalError

__all__ = ["start_sse", "write_anthropic_events", "write_openai_chunks"]


async def start_sse(request: web.Request, headers: dict[str, str]) -> web.StreamResponse:
    response = web.StreamResponse(
        status=200,
        headers={
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "x-accel-buffering": "no",
            **headers,
        },
    )
    await response.prepare(request)
    return response


async def write_openai_chunks(
    out: web.StreamResponse, chunks: AsyncIterator[dict[str, Any]], *, include_usage: bool
) -> None:
    try:
        async for chunk in chunks:
            if chunk.get("usage") and not chunk.get("choices"):
                if not include_usage:
                    continue
            elif not include_usage and "usage" in chunk:
                chunk = {k: v for k, v in chunk.items() if k != "usage"}
            await out.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
    except GatewayError as exc:
        await out.write(b"data: " + orjson.dumps(exc.to_openai()) + b"\n\n")
        return
    except (ConnectionError, OSError):
        raise
    except Exception as exc:  # a bug must still end the stream visibly
        error = InternalError(f"internal error while streaming: {type(exc).__name__}")
        await out.write(b"data: " + orjson.dumps(error.to_openai()) + b"\n\n")
        raise
    await out.write(b"data: [DONE]\n\n")


async def write_anthropic_events(
    out: web.StreamResponse, events: AsyncIterator[dict[str, Any]]
) -> None:
    try:
        async for event in events:
            name = str(event.get("type", "message"))
            await out.write(
                b"event: " + name.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
            )
    except GatewayError as exc:
        await out.write(b"event: error\ndata: " + orjson.dumps(exc.to_anthropic()) + b"\n\n")
    except (ConnectionError, OSError):
        raise
    except Exception as exc:
        error = InternalError(f"internal error while streaming: {type(exc).__name__}")
        await out.write(b"event: error\ndata: " + orjson.dumps(error.to_anthropic()) + b"\n\n")
        raise
