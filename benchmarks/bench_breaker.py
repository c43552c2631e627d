"""Fast fail: how quickly steadyllm answers when a deployment's circuit breaker is open.

The simulator is told to answer every request with 503; a few calls through one
gateway worker open the breaker of the only deployment (no fallback, no retries),
and from then on the gateway answers 503 (with ``Retry-After``) without calling
the upstream. The load generator then offers ``--rates`` open-loop and measures those
answers end to end; the simulator's request counter shows nothing reached it.

    python -m benchmarks.bench_breaker                   # ~20 s, writes docs/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from benchmarks import harness
from benchmarks.loadgen import CHAT_BODY, LoadResult, run, run_load

TITLE = "Circuit breaker fast fail"


def _http(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _upstream_requests(sim: harness.Server) -> int:
    return int(_http("GET", f"{sim.url}/sim/stats")[1]["requests"])


def _open_breaker(gateway: harness.Server, sim: harness.Server) -> int:
    """Send failing calls until one is answered without reaching the upstream."""
    for sent in range(1, 50):
        before = _upstream_requests(sim)
        status, _ = _http("POST", f"{gateway.url}/v1/chat/completions", CHAT_BODY)
        if status == 503 and _upstream_requests(sim) == before:
            return sent
    raise RuntimeError("the breaker did not open after 50 failing calls")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="200,1000", help="comma-separated req/s")
    parser.add_argument("--duration", type=float, default=5.0, help="measured s per rate")
    parser.add_argument("--no-write", action="store_true", help="do not touch the docs")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]
    resilience = {
        "retry": {"max_retries": 0},
        "breaker": {"failure_threshold": 5, "recovery_timeout": 3600},
    }
    results: list[tuple[LoadResult, float]] = []
    floors: list[LoadResult] = []
    with harness.workspace() as workdir, harness.sim_process(workdir, latency_ms=0) as sim:
        config = harness.gateway_config(sim, workdir, extra={"resilience": resilience})
        with harness.gateway_process(workdir, config) as gateway:
            _http("PUT", f"{sim.url}/sim/faults", {"rate_503": 1.0})
            opened_after = _open_breaker(gateway, sim)
            upstream_before = _upstream_requests(sim)
            for rate in rates:
                cpu = gateway.cpu_seconds()
                result = run(
                    run_load(
                        f"{gateway.url}/v1/chat/completions",
                        rate=rate,
                        duration=args.duration,
                        expect_status=503,
                    )
                )
                served = int((args.duration + 1.0) * rate)
                results.append((result, (gateway.cpu_seconds() - cpu) / served * 1e6))
            upstream_after = _upstream_requests(sim)
            for rate in rates:  # the floor: the gateway's 404 for a path it does not serve
                floors.append(
                    run(
                        run_load(
                            f"{gateway.url}/v1/no-such-route",
                            rate=rate,
                            duration=args.duration,
                            expect_status=404,
                        )
                    )
                )
    lines = [
        f"- Machine: {harness.machine()}",
        f"- Command: `{harness.command_line()}`",
        f"- Date: {harness.now()}",
        "- Setup: one gateway worker in front of a simulator answering 503 to everything; "
        f"the breaker (5 consecutive failures, no retries, no fallback) opened after "
        f"{opened_after} calls; every later call is answered 503 without reaching the "
        "upstream. For scale, the same load against a path the gateway does not serve "
        "(a 404 from its HTTP edge, no stage involved) is the floor of any answer here. "
        "Open-loop load (raw client, uvloop) for "
        f"{args.duration:g} s per rate; latency from the scheduled send to the whole answer.",
        "",
        "| rate (req/s) | answer | p50 | p95 | p99 | max | errors | achieved | "
        "gateway CPU per request |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (result, cpu_us), floor in zip(results, floors, strict=True):
        lines.append(
            f"| {result.rate:g} | 503, breaker open | {result.p(50):.2f} ms | "
            f"{result.p(95):.2f} ms | {result.p(99):.2f} ms | {result.p(100):.2f} ms | "
            f"{result.error_count} | {result.achieved_rate:.0f} | {cpu_us:.0f} µs |"
        )
        lines.append(
            f"| {floor.rate:g} | 404, no such route (the floor) | {floor.p(50):.2f} ms | "
            f"{floor.p(95):.2f} ms | {floor.p(99):.2f} ms | {floor.p(100):.2f} ms | "
            f"{floor.error_count} | {floor.achieved_rate:.0f} | |"
        )
    lines += [
        "",
        f"Requests that reached the upstream while the breaker was open: "
        f"**{upstream_after - upstream_before}** (the simulator's own counter). The figures "
        "are the whole round trip over loopback (client, kernel, the gateway's HTTP edge "
        "and every stage down to the breaker), not the breaker's decision alone.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        harness.write_section(TITLE, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
