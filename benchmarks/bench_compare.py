"""A/B two gateways: CPU per request and latency, in alternating slices of one run.

For "what did this change buy": run the gateway from two source trees (or with
two configs) side by side against one simulator, and offer the same open-loop
load to each in turn, many short slices, so drifting background load hits both
alike. Reports each one's CPU time per request (the steadier figure on a busy
machine) and its latency percentiles.

    git archive HEAD src | tar -x -C /tmp/before      # the tree to compare against
    python -m benchmarks.bench_compare --a-src /tmp/before/src --rate 300

``--redis URL`` gives both gateways ``store.redis_url`` (each its own
``redis_prefix``, removed afterwards), to measure the path with shared state on.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks import harness
from benchmarks.loadgen import percentile, run, run_load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a-src", default=None, help="src/ of gateway A (default: this tree)")
    parser.add_argument("--b-src", default=None, help="src/ of gateway B (default: this tree)")
    parser.add_argument("--a-log-level", default="info")
    parser.add_argument("--b-log-level", default="info")
    parser.add_argument("--a-store", default=None, help="store.url of A (default: SQLite file)")
    parser.add_argument("--b-store", default=None, help="store.url of B (default: SQLite file)")
    parser.add_argument("--redis", default=None, help="store.redis_url of both (default: none)")
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--slices", type=int, default=6, help="slices per gateway")
    parser.add_argument("--slice-seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    sides = {
        "A": (args.a_src, args.a_log_level, args.a_store),
        "B": (args.b_src, args.b_log_level, args.b_store),
    }
    cpu = {name: 0.0 for name in sides}
    served = {name: 0 for name in sides}
    latencies: dict[str, list[float]] = {name: [] for name in sides}
    errors = {name: 0 for name in sides}
    with harness.workspace() as workdir, harness.sim_process(workdir) as sim, ExitStack() as stack:
        gateways = {}
        for name, (src, level, store) in sides.items():
            home = workdir / name
            home.mkdir()
            extra: dict[str, Any] = {}
            if args.redis:
                prefix = f"bench-compare:{uuid.uuid4().hex[:12]}:{name}:"
                extra["store"] = {"redis_url": args.redis, "redis_prefix": prefix}
                stack.callback(_forget, args.redis, prefix)
            config = harness.gateway_config(sim, home, store=store, extra=extra)
            source = Path(src).resolve() if src else None
            gateways[name] = stack.enter_context(
                harness.gateway_process(home, config, log_level=level, source=source)
            )
        for _ in range(args.slices):
            for name, gateway in gateways.items():
                before = gateway.cpu_seconds()
                result = run(
                    run_load(
                        f"{gateway.url}/v1/chat/completions",
                        rate=args.rate,
                        duration=args.slice_seconds,
                        warmup=0.5,
                    )
                )
                cpu[name] += gateway.cpu_seconds() - before
                served[name] += int((args.slice_seconds + 0.5) * args.rate)
                latencies[name].extend(result.latencies_ms)
                errors[name] += result.error_count
    print(
        f"{args.rate:g} req/s, {args.slices} slices of {args.slice_seconds:g} s each; "
        f"machine: {harness.machine()}"
    )
    print("| gateway | source | log level | CPU per request | p50 | p99 | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, (src, level, _) in sides.items():
        values = sorted(latencies[name])
        print(
            f"| {name} | {src or 'this tree'} | {level} | "
            f"{cpu[name] / max(1, served[name]) * 1e6:.0f} µs | "
            f"{percentile(values, 50):.2f} ms | {percentile(values, 99):.2f} ms | {errors[name]} |"
        )
    return 0


def _forget(url: str, prefix: str) -> None:
    """Delete the keys a gateway left under ``prefix``."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
