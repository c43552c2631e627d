"""The lazy-singleton helper: one load, off the loop, whoever asks and from wherever."""

from __future__ import annotations

import asyncio
import threading

import pytest

from steadyllm.lazy import Lazy


class Loader:
    def __init__(self, *, fail_first: bool = False) -> None:
        self.calls = 0
        self.release = threading.Event()
        self.started = threading.Event()
        self.threads: list[str] = []
        self.fail_first = fail_first

    def __call__(self) -> dict[str, int]:
        self.calls += 1
        self.threads.append(threading.current_thread().name)
        self.started.set()
        self.release.wait(5)
        if self.fail_first and self.calls == 1:
            raise RuntimeError("disk hiccup")
        return {"model": self.calls}


async def test_concurrent_callers_share_one_load_done_off_the_loop() -> None:
    loader = Loader()
    lazy = Lazy(loader)
    waiters = [asyncio.create_task(lazy.get()) for _ in range(8)]
    await asyncio.to_thread(loader.started.wait, 5)
    assert not lazy.loaded
    loader.release.set()
    values = await asyncio.gather(*waiters)
    assert loader.calls == 1
    assert lazy.loads == 1
    assert all(v is values[0] for v in values)
    assert loader.threads[0] != threading.current_thread().name
    assert lazy.load_seconds is not None
    assert await lazy.get() is values[0]  # the fast path: no thread, no second load
    assert loader.calls == 1


async def test_a_failed_load_is_not_kept() -> None:
    loader = Loader(fail_first=True)
    loader.release.set()
    lazy = Lazy(loader)
    with pytest.raises(RuntimeError, match="disk hiccup"):
        await lazy.get()
    assert (lazy.loaded, lazy.failures, lazy.loads) == (False, 1, 0)
    assert await lazy.get() == {"model": 2}
    assert lazy.loads == 1


async def test_reset_closes_and_the_next_get_loads_again() -> None:
    closed: list[object] = []
    loader = Loader()
    loader.release.set()
    lazy = Lazy(loader, close=closed.append)
    first = await lazy.get()
    lazy.reset()
    assert closed == [first]
    assert not lazy.loaded
    assert await lazy.get() == {"model": 2}
    lazy.reset()
    lazy.reset()  # nothing loaded: close is not called again
    assert len(closed) == 2


def test_two_event_loops_in_two_threads_share_one_load() -> None:
    loader = Loader()
    lazy = Lazy(loader)
    results: list[object] = []

    def run() -> None:
        results.append(asyncio.run(lazy.get()))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    loader.started.wait(5)
    loader.release.set()
    for thread in threads:
        thread.join(5)
    assert loader.calls == 1
    assert len(results) == 3
    assert all(r is results[0] for r in results)
