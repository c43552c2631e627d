"""Streaming: the time to first token that steadyllm adds, and the whole stream's.

The simulator answers streams after a fixed 50 ms, then one chunk every
``--token-delay-ms``. At each rate the load generator (aiohttp client, open loop)
alternates between the simulator directly and one gateway worker in front of it;
the time to first token is measured from each request's scheduled send time to
the first chunk that carries text.

    python -m benchmarks.bench_streaming                 # ~50 s, writes docs/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

from benchmarks import harness
from benchmarks.loadgen import CHAT_BODY, percentile, run, run_load

TITLE = "Streaming TTFT"


@dataclass
class Side:
    ttft: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    sent: int = 0
    errors: int = 0
    cpu: float = 0.0
    served: int = 0


async def _measure(
    rates: list[float],
    sim: harness.Server,
    gateway: harness.Server,
    *,
    duration: float,
    rounds: int,
    warmup: float,
) -> list[tuple[float, Side, Side]]:
    out = []
    body = {**CHAT_BODY, "stream": True, "max_tokens": 20}
    for rate in rates:
        direct, through = Side(), Side()
        for _ in range(rounds):
            for side, server, model in ((direct, sim, "sim-fast"), (through, gateway, "bench")):
                cpu = gateway.cpu_seconds()
                result = await run_load(
                    f"{server.url}/v1/chat/completions",
                    rate=rate,
                    duration=duration / rounds,
                    warmup=warmup,
                    body={**body, "model": model},
                    client="aiohttp",
                    stream=True,
                )
                side.ttft.extend(result.ttft_ms)
                side.total.extend(result.latencies_ms)
                side.sent += result.sent
                side.errors += result.error_count
                if side is through:
                    side.cpu += gateway.cpu_seconds() - cpu
                    side.served += int((duration / rounds + warmup) * rate)
        for side in (direct, through):
            side.ttft.sort()
            side.total.sort()
        out.append((rate, direct, through))
        sys.stderr.write(
            f"{rate:g} req/s: ttft p50 direct {percentile(direct.ttft, 50):.2f} ms, "
            f"gateway {percentile(through.ttft, 50):.2f} ms\n"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="50,200", help="comma-separated streams per second")
    parser.add_argument("--duration", type=float, default=8.0, help="measured s per target")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--token-delay-ms", type=float, default=5.0)
    parser.add_argument("--no-write", action="store_true", help="do not touch the docs")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]
    started = time.monotonic()
    with (
        harness.workspace() as workdir,
        harness.sim_process(workdir, latency_ms=50, token_delay_ms=args.token_delay_ms) as sim,
    ):
        config = harness.gateway_config(sim, workdir)
        with harness.gateway_process(workdir, config) as gateway:
            results = run(
                _measure(
                    rates,
                    sim,
                    gateway,
                    duration=args.duration,
                    rounds=args.rounds,
                    warmup=args.warmup,
                )
            )
    lines = [
        f"- Machine: {harness.machine()}",
        f"- Command: `{harness.command_line()}`",
        f"- Date: {harness.now()} ({time.monotonic() - started:.0f} s)",
        f"- Setup: simulator answering streams after 50 ms, then a chunk every "
        f"{args.token_delay_ms:g} ms (`max_tokens` 20); one gateway worker (SQLite "
        "records); open-loop arrivals, aiohttp client on uvloop, alternating "
        f"{args.rounds} slices of {args.duration / args.rounds:g} s per target. TTFT: from "
        "the scheduled send to the first chunk with text; stream: to the end of the stream.",
        "",
        "| streams/s | TTFT p50 direct / gateway | added TTFT p50 | added TTFT p95 | "
        "added TTFT p99 | added whole-stream p50 | errors (gateway / direct) | "
        "gateway CPU per stream |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rate, direct, through in results:

        def added(q: float, d: Side = direct, g: Side = through) -> float:
            return percentile(g.ttft, q) - percentile(d.ttft, q)

        whole = percentile(through.total, 50) - percentile(direct.total, 50)
        lines.append(
            f"| {rate:g} | {percentile(direct.ttft, 50):.2f} / "
            f"{percentile(through.ttft, 50):.2f} ms | {added(50):.2f} ms | {added(95):.2f} ms | "
            f"{added(99):.2f} ms | {whole:.2f} ms | {through.errors} / {direct.errors} | "
            f"{through.cpu / max(1, through.served) * 1e6:.0f} µs |"
        )
    lines += [
        "",
        "The gateway holds each stream until its first content chunk (so a failure before "
        "it can still fail over), then relays chunk by chunk; the added TTFT is that "
        "extra hop, and the added whole-stream time is the per-chunk relay cost summed "
        "over the stream.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        harness.write_section(TITLE, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
