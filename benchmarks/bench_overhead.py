"""Gateway overhead: the latency steadyllm adds to a call, under open-loop load.

The simulator (fixed 50 ms latency) and one gateway worker run as separate
processes on loopback. At each rate the load generator alternates between the
simulator directly and the gateway in front of it, in short slices (``--rounds``),
so both see the same background load; the slices of each are merged. Reported per
rate: p50/p95/p99 of each, the difference (the added latency), errors, the rate
achieved, the gateway's CPU time per request, and what else used the machine.

    python -m benchmarks.bench_overhead                  # ~80 s, writes docs/BENCHMARKS.md
    python -m benchmarks.bench_overhead --rates 500 --duration 6 --no-write
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil

from benchmarks import harness
from benchmarks.loadgen import CHAT_BODY, LoadResult, percentile, run, run_load

TITLE = "Gateway overhead"
P99_LIMIT_MS = 10.0
OVERHEAD_HEADER = "x-steadyllm-overhead-ms"


@dataclass
class Side:
    """One target (direct or gateway) at one rate, its slices merged."""

    latencies: list[float] = field(default_factory=list)
    header: list[float] = field(default_factory=list)
    sent: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    answered: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0  # gateway (or simulator) CPU seconds over these slices
    server_requests: int = 0  # requests it served in those seconds, warm-up included
    client_cpu: float = 0.0
    lag: list[float] = field(default_factory=list)

    def add(self, result: LoadResult, server_cpu: float, warmup: float) -> None:
        self.latencies.extend(result.latencies_ms)
        self.header.extend(result.header_values)
        self.sent += result.sent
        self.ok += result.ok
        for kind, count in result.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + count
        self.answered += result.answered_in_window
        self.seconds += result.duration
        self.server_cpu += server_cpu
        self.server_requests += int((result.duration + warmup) * result.rate)
        self.client_cpu += result.client_cpu_seconds
        self.lag.extend(result.send_lag_ms)

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def achieved(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0


@dataclass
class RateResult:
    rate: float
    direct: Side = field(default_factory=Side)
    gateway: Side = field(default_factory=Side)
    sim_cpu: float = 0.0
    machine_busy: float = 0.0  # CPU seconds the whole machine used during the slices
    wall: float = 0.0

    def added(self, q: float) -> float:
        return self.gateway.p(q) - self.direct.p(q)

    @property
    def gateway_cpu_us(self) -> float:
        return self.gateway.server_cpu / max(1, self.gateway.server_requests) * 1e6

    def passes(self) -> bool:
        return (
            self.added(99) < P99_LIMIT_MS
            and self.gateway.error_count == 0
            and self.gateway.achieved >= 0.98 * self.rate
        )

    def summary(self) -> dict[str, Any]:
        header = sorted(self.gateway.header)
        return {
            "rate": self.rate,
            "direct": {f"p{q}": round(self.direct.p(q), 3) for q in (50, 95, 99)},
            "gateway": {f"p{q}": round(self.gateway.p(q), 3) for q in (50, 95, 99)},
            "added": {f"p{q}": round(self.added(q), 3) for q in (50, 95, 99)},
            "gateway_own_overhead": {f"p{q}": round(percentile(header, q), 3) for q in (50, 99)},
            "errors": {"direct": self.direct.errors, "gateway": self.gateway.errors},
            "achieved": {
                "direct": round(self.direct.achieved, 1),
                "gateway": round(self.gateway.achieved, 1),
            },
            "gateway_cpu_us_per_request": round(self.gateway_cpu_us, 1),
            "machine_busy_cores": round(self.machine_busy / self.wall, 2) if self.wall else None,
        }


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


async def _measure(
    rates: list[float],
    sim: harness.Server,
    gateway: harness.Server,
    *,
    duration: float,
    rounds: int,
    warmup: float,
    client: str,
) -> list[RateResult]:
    import time

    results = []
    slice_seconds = duration / rounds
    targets = (
        ("direct", sim, {**CHAT_BODY, "model": "sim-fast"}),
        ("gateway", gateway, CHAT_BODY),
    )
    for rate in rates:
        outcome = RateResult(rate)
        for _ in range(rounds):
            for name, server, body in targets:
                gateway_cpu, sim_cpu = gateway.cpu_seconds(), sim.cpu_seconds()
                busy, started = _busy_seconds(), time.perf_counter()
                result = await run_load(
                    f"{server.url}/v1/chat/completions",
                    rate=rate,
                    duration=slice_seconds,
                    warmup=warmup,
                    body=body,
                    client=client,
                    header_name=OVERHEAD_HEADER if name == "gateway" else None,
                )
                outcome.wall += time.perf_counter() - started
                outcome.machine_busy += _busy_seconds() - busy
                outcome.sim_cpu += sim.cpu_seconds() - sim_cpu
                side = outcome.gateway if name == "gateway" else outcome.direct
                used = gateway.cpu_seconds() - gateway_cpu if name == "gateway" else 0.0
                side.add(result, used, warmup)
        for side in (outcome.direct, outcome.gateway):
            side.latencies.sort()
        results.append(outcome)
        sys.stderr.write(orjson.dumps(outcome.summary()).decode() + "\n")
    return results


def _workers(count: int) -> str:
    return "one gateway worker" if count == 1 else f"{count} gateway workers (Redis counters)"


def _source(src: str | None) -> str:
    return f", code from `{src}`" if src else ""


def _ms(value: float) -> str:
    return f"{value:.2f}"


def render(results: list[RateResult], args: argparse.Namespace, store: str) -> str:
    passing = [r.rate for r in results if r.passes()]
    highest = f"{max(passing):g} req/s" if passing else "none of the rates tested"
    lines = [
        f"- Machine: {harness.machine()}",
        f"- Command: `{harness.command_line()}`",
        f"- Date: {harness.now()}",
        f"- Setup: simulator with a fixed {args.latency_ms:g} ms latency and "
        f"{_workers(args.workers)} (`steadyllm serve`, store `{store}`, log level "
        f"`{args.log_level}`{_source(args.gateway_src)}) as separate processes on loopback; "
        f"open-loop constant arrivals from `benchmarks/loadgen.py` ({args.client} client, "
        f"uvloop) in this process; at each rate {args.rounds} alternating slices of "
        f"{args.duration / args.rounds:g} s per target after {args.warmup:g} s of warm-up "
        "each. Latency is measured from each request's scheduled send time.",
        "",
        "Added latency (through the gateway minus direct, same run, same rate):",
        "",
        "| rate (req/s) | added p50 | added p95 | added p99 | gateway's own p50 / p99 | "
        "gateway CPU per request | errors (gateway / direct) | achieved (gateway / direct) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        header = sorted(r.gateway.header)
        lines.append(
            f"| {r.rate:g} | {_ms(r.added(50))} ms | {_ms(r.added(95))} ms | "
            f"{_ms(r.added(99))} ms | {_ms(percentile(header, 50))} / "
            f"{_ms(percentile(header, 99))} ms | {r.gateway_cpu_us:.0f} µs | "
            f"{r.gateway.error_count} / {r.direct.error_count} | "
            f"{r.gateway.achieved:.0f} / {r.direct.achieved:.0f} |"
        )
    lines += [
        "",
        f"Highest rate tested with added p99 under {P99_LIMIT_MS:g} ms (no errors, "
        f"rate achieved): **{highest}**.",
        "",
        "Latency of each target (ms):",
        "",
        "| rate | target | p50 | p95 | p99 | max | requests measured |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        for name, side in (("direct", r.direct), ("gateway", r.gateway)):
            lines.append(
                f"| {r.rate:g} | {name} | {_ms(side.p(50))} | {_ms(side.p(95))} | "
                f"{_ms(side.p(99))} | {_ms(side.p(100))} | {side.sent} |"
            )
    lines += [
        "",
        "Who used the machine's cores while each rate ran (CPU time per request; "
        '"machine busy" is the whole machine, other work on it included):',
        "",
        "| rate | gateway | simulator | load generator | machine busy (cores) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        sent = r.direct.server_requests + r.gateway.server_requests
        client_us = (r.direct.client_cpu + r.gateway.client_cpu) / max(1, sent) * 1e6
        lines.append(
            f"| {r.rate:g} | {r.gateway_cpu_us:.0f} µs | {r.sim_cpu / max(1, sent) * 1e6:.0f} µs"
            f" | {client_us:.0f} µs | {r.machine_busy / r.wall:.2f} of {psutil.cpu_count()} |"
        )
    lines += [
        "",
        '"Gateway\'s own" is the `x-steadyllm-overhead-ms` header: time inside the gateway '
        "minus time waiting on the upstream, without the HTTP parsing on either side or "
        "the extra loopback hop. The load generator, the simulator and the gateway share "
        "the same cores; when the machine is busy with other work, the tail latencies of "
        "both targets grow, and the added p99 is the noisiest figure here.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="100,500,1000", help="comma-separated req/s")
    parser.add_argument("--duration", type=float, default=10.0, help="measured s per target")
    parser.add_argument("--rounds", type=int, default=2, help="alternating slices per rate")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured s per slice")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--client", choices=["raw", "aiohttp"], default="raw")
    parser.add_argument("--store", default=None, help="store.url (default: SQLite file)")
    parser.add_argument(
        "--gateway-src", default=None, help="run the gateway from this src/ (e.g. an older tree)"
    )
    parser.add_argument("--log-level", default="info", help="the gateway's --log-level")
    parser.add_argument("--workers", type=int, default=1, help="gateway worker processes")
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/0", help="store.redis_url for --workers > 1"
    )
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--no-write", action="store_true", help="do not touch the docs")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]
    with (
        harness.workspace() as workdir,
        harness.sim_process(workdir, latency_ms=args.latency_ms) as sim,
    ):
        extra: dict[str, Any] = {}
        if args.workers > 1:
            extra["store"] = {"redis_url": args.redis_url, "redis_prefix": "steadyllm-bench:"}
        config = harness.gateway_config(sim, workdir, store=args.store, extra=extra)
        store = "sqlite (file)" if args.store is None else args.store
        source = Path(args.gateway_src).resolve() if args.gateway_src else None
        with harness.gateway_process(
            workdir, config, log_level=args.log_level, source=source, workers=args.workers
        ) as gateway:
            results = run(
                _measure(
                    rates,
                    sim,
                    gateway,
                    duration=args.duration,
                    rounds=args.rounds,
                    warmup=args.warmup,
                    client=args.client,
                )
            )
    text = render(results, args, store)
    print(text)
    if args.json:
        with open(args.json, "wb") as out:
            out.write(orjson.dumps([r.summary() for r in results], option=orjson.OPT_INDENT_2))
    if not args.no_write:
        harness.write_section(TITLE, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
