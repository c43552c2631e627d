"""Running the simulated upstream: from the command line, in a test, in a thread.

``run_sim(host, port, plan)`` serves until SIGINT/SIGTERM (the ``steadyllm sim``
command). ``async with running_sim() as sim`` serves it in the current event loop
on a free port; ``with SimThread() as sim`` serves it from a thread of its own, for
code that is not async. Both hand back the URLs (``base_url`` for OpenAI clients,
ending in ``/v1``; ``url`` for Anthropic clients, which add ``/v1`` themselves) and
ways to change the fault plan and read the counters without going through HTTP.

The application itself (endpoints, faults, admin) is :mod:`steadyllm.sim.app`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from steadyllm.sim.app import DEFAULT_MODELS, SIM_STATE, SimState, create_sim_app
from steadyllm.sim.faults import FaultPlan

__all__ = [
    "DEFAULT_MODELS",
    "DEFAULT_PORT",
    "SimHandle",
    "SimThread",
    "create_sim_app",
    "run_sim",
    "running_sim",
]

DEFAULT_PORT = 9090

_T = TypeVar("_T")
_SHUTDOWN_SECONDS = 1.0  # streams still open at exit are cut after this long


def run_sim(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    plan: FaultPlan | None = None,
    *,
    answer_seed: int = 0,
    models: Sequence[str] = DEFAULT_MODELS,
    print_fn: Callable[..., None] | None = print,
) -> None:
    """Serve the simulator until SIGINT or SIGTERM (the ``steadyllm sim`` command)."""
    app = create_sim_app(plan, answer_seed=answer_seed, models=models)
    web.run_app(app, host=host, port=port, print=print_fn, access_log=None)


def _plan_from(plan: FaultPlan | Mapping[str, Any] | None, changes: Mapping[str, Any]) -> FaultPlan:
    base = plan if isinstance(plan, FaultPlan) else FaultPlan.from_dict(plan or {})
    return FaultPlan.from_dict({**base.to_dict(), **changes}) if changes else base


class SimHandle:
    """A simulator running in this event loop."""

    def __init__(self, url: str, state: SimState) -> None:
        self.url = url  # http://host:port
        self.base_url = f"{url}/v1"
        self._state = state

    @property
    def plan(self) -> FaultPlan:
        return self._state.plan

    async def set_faults(
        self, plan: FaultPlan | Mapping[str, Any] | None = None, **changes: Any
    ) -> FaultPlan:
        """Replace the fault plan: a plan, a mapping as ``PUT /sim/faults`` takes, or fields.

        ``set_faults()`` clears every fault; ``set_faults(plan, fail_next=2)`` takes
        ``plan`` with those fields changed.
        """
        self._state.install(_plan_from(plan, changes))
        return self._state.plan

    async def stats(self) -> dict[str, Any]:
        """What ``GET /sim/stats`` answers."""
        return self._state.stats.snapshot()

    async def reset(self) -> None:
        """Zero the counters (the plan stays)."""
        self._state.stats.clear()


@asynccontextmanager
async def running_sim(
    plan: FaultPlan | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    answer_seed: int = 0,
    models: Sequence[str] = DEFAULT_MODELS,
) -> AsyncIterator[SimHandle]:
    """Serve the simulator in the current event loop; port 0 picks a free one."""
    app = create_sim_app(plan, answer_seed=answer_seed, models=models)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_SECONDS)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
        yield SimHandle(f"http://{shown}:{bound_port}", app[SIM_STATE])
    finally:
        await runner.cleanup()


class SimThread:
    """The simulator served from a background thread, for tests that are not async.

    ::

        with SimThread(FaultPlan(rate_503=1.0)) as sim:
            httpx.post(f"{sim.base_url}/chat/completions", json=...)
            assert sim.stats()["outcomes"] == {"503": 1}
    """

    def __init__(
        self,
        plan: FaultPlan | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        answer_seed: int = 0,
        models: Sequence[str] = DEFAULT_MODELS,
    ) -> None:
        self._options = (plan, host, port, answer_seed, tuple(models))
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._handle: SimHandle | None = None
        self._failure: BaseException | None = None

    def __enter__(self) -> SimThread:
        self._thread = threading.Thread(target=self._run, name="steadyllm-sim", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            self._thread.join()
            raise self._failure
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join()

    @property
    def url(self) -> str:
        return self._running().url

    @property
    def base_url(self) -> str:
        return self._running().base_url

    @property
    def plan(self) -> FaultPlan:
        return self._running().plan

    def set_faults(
        self, plan: FaultPlan | Mapping[str, Any] | None = None, **changes: Any
    ) -> FaultPlan:
        """As :meth:`SimHandle.set_faults`, from any thread."""
        return self._call(self._running().set_faults(plan, **changes))

    def stats(self) -> dict[str, Any]:
        return self._call(self._running().stats())

    def reset(self) -> None:
        self._call(self._running().reset())

    def _running(self) -> SimHandle:
        if self._handle is None:
            raise RuntimeError("the simulator is not running; use SimThread as a context manager")
        return self._handle

    def _call(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        # The state belongs to the simulator's loop; change it there, between requests.
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the thread that called __enter__
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        plan, host, port, answer_seed, models = self._options
        async with running_sim(plan, host, port, answer_seed=answer_seed, models=models) as handle:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._handle = handle
            self._ready.set()
            await self._stop.wait()
        self._handle = None
