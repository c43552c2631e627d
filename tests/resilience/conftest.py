"""Helpers for resilience tests: gateway configs over simulators, and async clients."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import redis

from steadyllm.sim.server import SimThread
from tests.resilience.tally import TALLIES
from tests.services import require_redis

PRICE = {"input_per_million": 0.5, "output_per_million": 1.5}
FAST_RETRY = {"initial_delay": 0.01, "max_delay": 0.05}
MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def redis_prefix() -> Iterator[tuple[str, str]]:
    """The test Redis's URL and a key prefix of this test's own, deleted after it."""
    url = require_redis()
    prefix = f"steadyllm-test:{uuid.uuid4().hex}:"
    yield url, prefix
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def deployment(sim: SimThread, name: str, model: str = "sim-fast", **extra: Any) -> dict[str, Any]:
    return {
        "provider": "openai",
        "model": model,
        "name": name,
        "api_base": sim.base_url,
        "api_key": "sk-test",
        "price": PRICE,
        "timeout": {"connect": 2, "read": 5, "total": 10, "first_token": 5},
        **extra,
    }


def config(models: Sequence[dict[str, Any]], **resilience: Any) -> dict[str, Any]:
    return {
        "server": {"shutdown_timeout": 2},
        "store": {"url": "memory://"},
        "records": {"flush_interval": 0.05},
        "models": list(models),
        "resilience": resilience,
    }


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


async def post_many(
    url: str, bodies: Sequence[dict[str, Any]], *, concurrency: int
) -> list[Answer]:
    """POST each body to ``url`` with at most ``concurrency`` in flight (aiohttp: the
    test client should not be the bottleneck)."""
    results: list[Answer | None] = [None] * len(bodies)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(bodies)):
        queue.put_nowait(index)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                async with session.post(url, json=bodies[index]) as response:
                    results[index] = Answer(
                        response.status,
                        {k.lower(): v for k, v in response.headers.items()},
                        await response.json(),
                    )

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [r for r in results if r is not None]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fault suite's table: what each scenario sent, served, failed and lost."""
    if not TALLIES:
        return
    terminalreporter.section("fault suite")
    for tally in TALLIES:
        terminalreporter.write_line(tally.line())
