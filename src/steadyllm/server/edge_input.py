"""Request bodies at the edge, before any handler: size, time, nesting.

The edge middleware (``server/app.py``) reads every body here first; handlers then
get it from aiohttp's cache (``request.read()`` keeps what it read):

- a declared ``Content-Length`` over ``server.max_body_bytes`` is refused (413)
  before a byte is read; a chunked body is cut at the limit by aiohttp (413);
- a body that has not arrived within ``server.body_read_timeout`` (a slow or
  stalled client) gets 408 and the connection is closed;
- JSON nested deeper than the encoder goes (orjson stops at 255 levels; the gateway
  re-encodes every body to forward and to record it) is a 400 here rather than a
  500 later. Only bodies with that many brackets are looked at twice.
"""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from steadyllm.errors import InvalidRequest, RequestTimeout

__all__ = ["MAX_JSON_DEPTH", "check_nesting", "hang_up", "read_body"]

MAX_JSON_DEPTH = 254  # orjson.dumps refuses deeper values ("Recursion limit reached")


async def read_body(request: web.Request, max_bytes: int, timeout: float) -> None:
    length = request.content_length
    if length is not None and length > max_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=length)
    try:
        async with asyncio.timeout(timeout):
            raw = await request.read()  # aiohttp enforces client_max_size (413)
    except TimeoutError:
        raise RequestTimeout(
            f"The request body did not arrive within {timeout:g} seconds."
        ) from None
    check_nesting(raw)


def check_nesting(raw: bytes) -> None:
    """Refuse JSON nested deeper than :data:`MAX_JSON_DEPTH` (anything else passes)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return  # too few brackets to be that deep: the common case, at C speed
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return  # the handler says what is wrong with it (orjson stops at 1024 levels)
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        raise InvalidRequest(
            f"The JSON body is nested too deeply: at most {MAX_JSON_DEPTH} levels."
        ) from None


async def hang_up(request: web.Request, response: web.Response) -> web.Response:
    """Send ``response``, then close the connection: the rest of the body is not read."""
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    if request.transport is not None:
        request.transport.close()
    return response
