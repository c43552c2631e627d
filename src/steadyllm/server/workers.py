"""Several worker processes on one port: ``steadyllm serve --workers N``.

Each worker is a whole gateway (its own event loop, connection pools and record
writer) listening on the same address with ``SO_REUSEPORT``, so the kernel spreads
new connections across them. The supervisor (the process that was started) only
starts the workers, forwards SIGTERM/SIGINT to them and waits for each one's
graceful drain (see :mod:`steadyllm.server.run`); it serves nothing itself.

Shared state must be shared: counters, reservations and breaker state live in a
process's memory unless ``store.redis_url`` is set, so N workers without Redis
would each allow the whole rate limit, budget and failure count. More than one
worker therefore needs ``store.redis_url`` and a record store that every worker
reaches (an SQLite file or PostgreSQL, not ``memory://`` or ``sqlite:///:memory:``).

A worker that exits on its own is not replaced: the supervisor drains the others
and exits with status 1, so the service manager (systemd, Kubernetes) restarts the
whole unit with a clean state.

The kernel balancing connections across ``SO_REUSEPORT`` listeners is Linux's;
other systems accept the option but may hand every connection to one worker.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from multiprocessing import connection, get_context
from multiprocessing.context import ForkContext, SpawnContext
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from steadyllm.config import ConfigError, Settings

__all__ = ["check_workers", "supervise"]

log = logging.getLogger("steadyllm.server")

_START_SECONDS = 60.0  # for every worker to bind and start its gateway
_FLUSH_GRACE = 15.0  # beyond the drain: the record flush on the way out


def check_workers(settings: Settings, workers: int) -> None:
    """Refuse a worker count whose shared state would not be shared."""
    if workers <= 1:
        return
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigError(
            f"server.workers={workers} needs SO_REUSEPORT, which this platform lacks; "
            "run one worker per process manager slot instead."
        )
    store = settings.store
    if store.redis_url is None:
        raise ConfigError(
            f"server.workers={workers} needs store.redis_url: without Redis, rate limits, "
            "budgets, circuit breakers and retry budgets live in each process's memory, so "
            f"{workers} workers would each allow the whole limit. Set store.redis_url, or "
            "run one worker."
        )
    url = store.url.lower()
    if url.startswith("memory:") or (url.startswith("sqlite") and ":memory:" in url):
        raise ConfigError(
            f"server.workers={workers} needs a record store every worker shares: "
            f"{store.url!r} lives inside one process. Use an SQLite file or PostgreSQL."
        )


def _reserve_port(host: str) -> socket.socket:
    """A bound, not listening, ``SO_REUSEPORT`` socket: picks port 0's number for all.

    It never listens, so it takes no connections; it only holds the port for the
    workers, which bind the same address and port with ``SO_REUSEPORT`` too.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def _worker(
    settings: Settings, host: str, port: int, log_level: int, pipe: connection.Connection
) -> None:
    """One worker process: serve until SIGTERM/SIGINT, report readiness on ``pipe``."""
    # Forked: drop the supervisor's handlers until the worker's loop installs its own.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    logging.basicConfig(
        level=log_level,
        format=f"%(asctime)s %(levelname)s %(name)s[{os.getpid()}]: %(message)s",
        force=True,  # forked: replace the supervisor's handler, to name the worker
    )
    from steadyllm.server.run import run_loop, serve

    def ready(bound: int) -> None:
        pipe.send(("ready", bound))

    try:
        run_loop(serve(settings, host=host, port=port, on_ready=ready, reuse_port=True))
    except BaseException as exc:
        if not isinstance(exc, KeyboardInterrupt):
            pipe.send(("failed", f"{type(exc).__name__}: {exc}"))
            raise
    finally:
        pipe.close()


class _Supervisor:
    def __init__(self, settings: Settings, host: str, port: int, workers: int) -> None:
        self.settings = settings
        self.host = host
        self.port = port
        self.count = workers
        self.processes: list[BaseProcess] = []
        self.pipes: list[connection.Connection] = []
        self.stopping = False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def start(self) -> None:
        # Forked before any event loop, thread or connection exists here, so each
        # worker starts with the modules already imported and nothing else shared.
        # SO_REUSEPORT balancing is Linux's; elsewhere, a fresh interpreter is safer.
        context: ForkContext | SpawnContext = (
            get_context("fork") if sys.platform == "linux" else get_context("spawn")
        )
        level = logging.getLogger().getEffectiveLevel()
        for index in range(self.count):
            reader, writer = context.Pipe(duplex=False)
            process = context.Process(
                target=_worker,
                args=(self.settings, self.host, self.port, level, writer),
                name=f"steadyllm-worker-{index}",
            )
            process.start()
            writer.close()  # the worker holds its end; EOF here means it is gone
            self.processes.append(process)
            self.pipes.append(reader)

    def wait_ready(self) -> str | None:
        """``None`` once every worker listens, else why one did not start."""
        waiting = dict(zip(self.pipes, self.processes, strict=True))
        deadline = time.monotonic() + _START_SECONDS
        while waiting:
            if self.stopping:
                return "stopped by a signal while starting"
            left = deadline - time.monotonic()
            if left <= 0:
                return f"{len(waiting)} worker(s) did not start within {_START_SECONDS:g} s"
            for pipe in connection.wait(list(waiting), timeout=min(left, 0.2)):
                assert isinstance(pipe, connection.Connection)
                process = waiting.pop(pipe)
                try:
                    kind, detail = pipe.recv()
                except EOFError:
                    process.join(5)
                    return f"{process.name} exited with status {process.exitcode}"
                if kind != "ready":
                    return f"{process.name} failed to start: {detail}"
        return None

    def watch(self) -> str | None:
        """Wait for a stop signal (``None``) or a worker that exits on its own."""
        sentinels = {process.sentinel: process for process in self.processes}
        while not self.stopping:
            for sentinel in connection.wait(list(sentinels), timeout=0.2):
                assert isinstance(sentinel, int)
                process = sentinels[sentinel]
                return f"{process.name} (pid {process.pid}) exited with status {process.exitcode}"
        return None

    def stop(self) -> bool:
        """SIGTERM every worker and wait for each one's drain; True if all ended cleanly."""
        for process in self.processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 2 * self.settings.server.shutdown_timeout + _FLUSH_GRACE
        clean = True
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.error("%s did not stop in time; killing it", process.name)
                process.kill()
                process.join()
                clean = False
            elif process.exitcode != 0:
                clean = False
        for pipe in self.pipes:
            pipe.close()
        return clean


def supervise(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    on_ready: Callable[[int], None] | None = None,
) -> int:
    """Run ``workers`` gateway processes on ``host:port``; the exit status to return."""
    check_workers(settings, workers)
    reserved = _reserve_port(host) if port == 0 else None
    if reserved is not None:
        port = int(reserved.getsockname()[1])
    supervisor = _Supervisor(settings, host, port, workers)
    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, supervisor._on_signal)
    try:
        supervisor.start()
        problem = supervisor.wait_ready()
        if problem is None:
            log.info("steadyllm: %d workers listening on http://%s:%d", workers, host, port)
            if on_ready is not None:
                on_ready(port)
            problem = supervisor.watch()
        if problem is not None:
            log.error("%s; stopping the other workers", problem)
        else:
            log.info("stopping: draining %d workers", workers)
        clean = supervisor.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if reserved is not None:
            reserved.close()
    if problem is not None or not clean:
        return 1
    return 0
