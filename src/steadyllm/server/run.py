"""Running the server: bind, serve, and on SIGTERM shut down without losing anything.

Shutdown order: stop accepting connections, let in-flight requests finish (up to
``server.shutdown_timeout``), then stop the gateway, which flushes every record.
Several workers (``server.workers`` / ``--workers``): see :mod:`steadyllm.server.workers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

from steadyllm.config import ConfigError, Settings
from steadyllm.gateway import Gateway
from steadyllm.server.app import INFLIGHT, create_app

__all__ = ["check_bind", "run_loop", "serve", "serve_forever"]

log = logging.getLogger("steadyllm.server")


def check_bind(settings: Settings, host: str) -> None:
    """Refuse a non-loopback address without an admin key, unless told ``insecure``."""
    if settings.server.admin_key is not None or settings.server.insecure:
        return
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"refusing to listen on {host} without server.admin_key: the control plane would be "
            "open to the network. Set an admin key, or pass --insecure if you mean it."
        )


async def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    on_ready: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
    sock: socket.socket | None = None,
    reuse_port: bool = False,
) -> None:
    check_bind(settings, host)
    gateway = Gateway(settings)
    app = create_app(gateway)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        shutdown_timeout=settings.server.shutdown_timeout,
        keepalive_timeout=settings.server.keepalive_timeout,
    )
    await runner.setup()
    site: web.BaseSite
    if sock is not None:
        site = web.SockSite(runner, sock)
    else:
        site = web.TCPSite(
            runner, host, port, backlog=2048, reuse_address=True, reuse_port=reuse_port or None
        )
    await site.start()
    bound = port
    server = getattr(site, "_server", None)
    if server is not None and server.sockets:
        bound = server.sockets[0].getsockname()[1]
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    log.info("steadyllm listening on http://%s:%d", host, bound)
    if on_ready is not None:
        on_ready(bound)
    await stop.wait()
    log.info(
        "shutting down: no new connections; waiting for %d in-flight requests", app[INFLIGHT].count
    )
    await site.stop()
    if not await app[INFLIGHT].wait_idle(settings.server.shutdown_timeout):
        log.error("shutdown timeout: %d requests still in flight", app[INFLIGHT].count)
    await runner.cleanup()  # closes connections, then stops the gateway (flushes records)
    log.info("stopped; %d call records written", gateway.records.written)


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop where it is installed, else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:  # uvloop is optional on platforms without it
        asyncio.run(main)
    else:
        uvloop.run(main)


def serve_forever(
    settings: Settings,
    *,
    host: str,
    port: int,
    on_ready: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> int:
    """Serve until SIGTERM/SIGINT; the exit status. ``workers`` overrides ``server.workers``.

    More than one worker: a supervisor process and that many gateway processes on
    the same port (:mod:`steadyllm.server.workers`).
    """
    count = settings.server.workers if workers is None else workers
    if count > 1:
        from steadyllm.server.workers import supervise

        check_bind(settings, host)
        return supervise(settings, host=host, port=port, workers=count, on_ready=on_ready)
    run_loop(serve(settings, host=host, port=port, on_ready=on_ready))
    return 0
