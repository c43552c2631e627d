"""Provider tests, and the small fake upstream they run against."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: Any


async def _unset(request: web.Request) -> web.StreamResponse:
    return web.json_response({"error": {"message": "no handler set"}}, status=599)


class FakeUpstream:
    """An HTTP server on 127.0.0.1 (port 0) that answers with ``handler`` and counts requests."""

    def __init__(self) -> None:
        self.handler: Handler = _unset
        self.seen: list[Seen] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> FakeUpstream:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # handler_cancellation: a handler left sleeping by a client that timed out
        # stops with the connection; a short shutdown keeps teardown fast.
        self._runner = web.AppRunner(app, shutdown_timeout=0.1, handler_cancellation=True)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.seen.append(
            Seen(
                method=request.method,
                path=request.path,
                query=request.query_string,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=orjson.loads(raw) if raw else None,
            )
        )
        return await self.handler(request)


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def sse(
    request: web.Request, blocks: list[bytes], *, delay: float = 0.0
) -> web.StreamResponse:
    """Write ``blocks`` as a text/event-stream body, one write each."""
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    for block in blocks:
        await response.write(block)
        if delay:
            await asyncio.sleep(delay)
    return response


async def cut(request: web.Request, blocks: list[bytes]) -> web.StreamResponse:
    """Write ``blocks`` then drop the connection mid-body."""
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    for block in blocks:
        await response.write(block)
    await asyncio.sleep(0.02)  # let the blocks leave before the reset
    assert request.transport is not None
    request.transport.close()
    return response


async def drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without answering."""
    assert request.transport is not None
    request.transport.close()
    await asyncio.sleep(1)  # cancelled with the connection
    return web.Response()


def data(payload: Any) -> bytes:
    """One OpenAI-style SSE event."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def event(payload: dict[str, Any]) -> bytes:
    """One Anthropic-style SSE event, named after its type."""
    name = str(payload["type"]).encode()
    return b"event: " + name + b"\ndata: " + orjson.dumps(payload) + b"\n\n"
