"""The Redis-backed limiter: what taking and settling a call's limits costs.

One call with a virtual key takes, in one Lua script on Redis, its request windows
(per minute, hour, day), its tokens per minute, its user's dollar budget, the global
request window, the global budget and a global concurrency slot; when it ends, a
second script settles tokens and cost and gives the slot back. This benchmark runs
the gateway's own ``Limiter`` against a real Redis, in-process, and compares it in
the same run with the floor of any Redis-backed step: one ``PING`` round trip on the
same client.

    python -m benchmarks.bench_limits            # ~20 s, writes docs/BENCHMARKS.md
    python -m benchmarks.bench_limits --calls 2000 --no-write

``STEADYLLM_BENCH_REDIS`` names another Redis (default ``redis://127.0.0.1:6379/0``);
keys go under a fresh prefix, deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks import harness
from benchmarks.loadgen import percentile
from steadyllm.keys.settings import AccessSettings, GlobalLimits, Limits
from steadyllm.limits.limiter import Limiter
from steadyllm.limits.redis_store import RedisLimitStore, limit_client
from steadyllm.limits.rules import Subject, build_rules
from steadyllm.limits.store import LimitStore, MemoryLimitStore

TITLE = "Limiter and budget reservation"
REDIS_URL = os.environ.get("STEADYLLM_BENCH_REDIS", "redis://127.0.0.1:6379/0")

LIMITS = Limits(
    requests_per_minute=10**9,
    requests_per_hour=10**9,
    requests_per_day=10**9,
    tokens_per_minute=10**12,
    budget_per_day=10.0**9,
)
GLOBAL = GlobalLimits(max_concurrent=10**6, requests_per_hour=10**9, budget_per_day=10.0**9)


def _rules(user: int) -> list[Any]:
    subject = Subject(rate=f"k:bench-{user}", budget=f"u:bench-{user}", scope="key")
    return build_rules(
        subject, LIMITS, GLOBAL, tokens=300, cost=0.0004, now=time.time(), lease=900.0
    )


async def _sequential(step: Callable[[int], Awaitable[None]], calls: int) -> list[float]:
    """Microseconds per step, one at a time (the latency a request sees)."""
    samples = []
    for number in range(calls):
        started = time.perf_counter()
        await step(number)
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


async def _throughput(step: Callable[[int], Awaitable[None]], calls: int, width: int) -> float:
    """Steps per second with ``width`` in flight (what one event loop can push)."""
    counter = iter(range(calls))

    async def worker() -> None:
        for number in counter:
            await step(number)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(width)))
    return calls / (time.perf_counter() - started)


def _limiter_step(limiter: Limiter) -> Callable[[int], Awaitable[None]]:
    async def step(number: int) -> None:
        ticket = await limiter.acquire(_rules(number % 100), f"req-{number}")
        await limiter.settle(ticket, tokens=280, cost=0.00035)

    return step


async def measure(calls: int, width: int) -> dict[str, Any]:
    prefix = f"steadyllm-bench:{uuid.uuid4().hex}:"
    client = limit_client(REDIS_URL, timeout=5.0)
    settings = AccessSettings(require_keys=True)
    results: dict[str, Any] = {}
    try:
        await client.ping()

        async def ping(_: int) -> None:
            await client.ping()

        stores: list[tuple[str, LimitStore]] = [
            ("Redis", RedisLimitStore(client, prefix=prefix)),
            ("memory (one process)", MemoryLimitStore()),
        ]
        steps: list[tuple[str, Callable[[int], Awaitable[None]]]] = [("PING", ping)]
        steps += [(name, _limiter_step(Limiter(settings, store))) for name, store in stores]
        for _, step in steps:
            await _sequential(step, min(200, calls))  # warm up: scripts loaded, pools open
        for _ in range(3):  # alternate, so each sees the same background load
            for name, step in steps:
                entry = results.setdefault(name, {"seq": [], "rate": [], "cpu": []})
                cpu = time.process_time()
                entry["seq"] += await _sequential(step, calls // 3)
                entry["cpu"].append((time.process_time() - cpu) / (calls // 3) * 1e6)
                entry["rate"].append(await _throughput(step, calls // 3, width))
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    return results


def render(results: dict[str, Any], calls: int, width: int) -> str:
    floor = statistics.median(results["PING"]["seq"])
    lines = [
        f"- Machine: {harness.machine()}",
        f"- Command: `{harness.command_line()}`",
        f"- Date: {harness.now()}; load average at the start {os.getloadavg()[0]:.2f}",
        f"- Setup: the gateway's `Limiter` in-process against Redis at `{REDIS_URL}`; one "
        "call takes 8 rules (requests per minute, hour and day, tokens per minute, the "
        "user's and the global dollar budget, the global request window, a global "
        "concurrency slot) in one script and settles tokens, cost and the slot in a "
        f"second; {calls} calls per row, in three alternating slices; throughput with "
        f"{width} calls in flight on one event loop.",
        "",
        "| step | p50 µs | p99 µs | p50 vs one PING | client CPU µs | calls/s, "
        f"{width} in flight |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, label in (
        ("PING", "one Redis `PING` (the floor)"),
        ("Redis", "acquire + settle, Redis"),
        ("memory (one process)", "acquire + settle, in memory (one process)"),
    ):
        seq = results[name]["seq"]
        rate = statistics.median(results[name]["rate"])
        ratio = statistics.median(seq) / floor
        cpu = statistics.median(results[name]["cpu"])
        lines.append(
            f"| {label} | {percentile(sorted(seq), 50):.0f} | {percentile(sorted(seq), 99):.0f} | "
            f"{ratio:.2f}x | {cpu:.0f} | {rate:,.0f} |"
        )
    lines += [
        "",
        "Acquire and settle are two round trips, so two `PING`s are the least they can "
        "cost; what is above that is the scripts' own work on Redis and the rules built "
        "in Python. Client CPU is this process's CPU time per call (one at a time): "
        "the part of the cost that lands on a gateway worker. Calls without limits (no "
        "key, no anonymous or global limits) skip the limiter entirely.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=6000)
    parser.add_argument("--width", type=int, default=50)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    results = asyncio.run(measure(args.calls, args.width))
    text = render(results, args.calls, args.width)
    print(text)
    if not args.no_write:
        harness.write_section(TITLE, text)
        print(f"written to {harness.DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
