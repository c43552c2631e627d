"""The request path in-process: what each stage costs a call, in microseconds.

No network: every deployment's provider is swapped for one that answers a canned
completion at once, so what is timed is steadyllm's own Python (request checks,
the stages, the call record) without aiohttp or the kernel. The gateway's own
stage list is folded with a timing wrapper around each stage; a stage's own time
is its handler's time minus the next one's. Medians over many calls, so a
preemption by other work on the machine moves them little; every prompt is
distinct, so the cache never answers.

    python -m benchmarks.bench_pipeline                  # ~15 s, prints a table
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from benchmarks.loadgen import CHAT_BODY, percentile, run
from steadyllm.call import Call, Deployment, Response, Usage
from steadyllm.gateway import Gateway
from steadyllm.pipeline import Handler, Stage, fold
from steadyllm.stages.provider import call_provider
from steadyllm.stages.record import new_id

ANSWER: dict[str, Any] = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 0,
    "model": "sim-fast",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello there, nice to meet you."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 14, "completion_tokens": 8, "total_tokens": 22},
}


class CannedProvider:
    """Answers at once; stands in for the upstream so only steadyllm's code is timed."""

    kind = "canned"

    async def chat(self, call: Call, deployment: Deployment) -> Response:
        body = dict(ANSWER)
        return Response(body=body, usage=Usage(14, 8), deployment=deployment.name)

    async def embed(self, call: Call, deployment: Deployment) -> Response:
        raise AssertionError("the pipeline benchmark measures chat calls only")

    async def list_models(self) -> list[str]:
        return ["sim-fast"]

    async def aclose(self) -> None:
        return None


def settings() -> dict[str, Any]:
    return {
        "store": {"url": "memory://"},
        "models": [
            {
                "name": "bench",
                "deployments": [
                    {
                        "provider": "openai",
                        "model": "sim-fast",
                        "api_base": "http://127.0.0.1:9/v1",
                        "price": {"input_per_million": 0.5, "output_per_million": 1.5},
                    }
                ],
            }
        ],
    }


class _Timings:
    """Inclusive time of each wrapped handler, per call, in the order they ran."""

    def __init__(self) -> None:
        self.current: dict[str, float] = {}

    def wrap(self, name: str, handler: Handler) -> Handler:
        current = self.current

        async def timed(call: Call) -> Response:
            started = time.perf_counter()
            try:
                return await handler(call)
            finally:
                current[name] = time.perf_counter() - started

        return timed


async def _measure(calls: int) -> tuple[list[str], dict[str, list[float]]]:
    """Per stage (and ``new_call`` and the whole), the microseconds of each call."""
    async with Gateway.from_config(settings()) as gateway:
        for deployment in gateway.router.deployments():
            deployment.provider = CannedProvider()
        stages: list[Stage] = gateway._stages()  # the path as the gateway builds it
        timings = _Timings()
        handler = fold(stages, call_provider, wrap=timings.wrap)
        names = [stage.name for stage in stages] + ["provider"]
        samples: dict[str, list[float]] = {name: [] for name in [*names, "new_call", "whole"]}
        for serial in range(calls + 500):
            body = {**CHAT_BODY, "model": "bench"}
            body["messages"] = [{"role": "user", "content": f"Say hello, #{serial}."}]
            timings.current.clear()
            started = time.perf_counter()
            call = gateway.new_call("chat", body, request_id=f"req_{new_id()}")  # as the edge
            checked = time.perf_counter()
            await handler(call)
            ended = time.perf_counter()
            if serial % 50 == 0:
                await asyncio.sleep(0)  # let the record writer and other tasks run
            if serial < 500:
                continue  # warm-up
            samples["new_call"].append((checked - started) * 1e6)
            samples["whole"].append((ended - started) * 1e6)
            inclusive = [timings.current.get(name, 0.0) for name in names]
            for index, name in enumerate(names):
                inner = inclusive[index + 1] if index + 1 < len(names) else 0.0
                samples[name].append((inclusive[index] - inner) * 1e6)
        return names, samples


def table(names: list[str], samples: dict[str, list[float]]) -> str:
    lines = ["| part | median µs | p90 µs |", "| --- | --- | --- |"]
    for name in ["new_call", *names, "whole"]:
        values = sorted(samples[name])
        label = {"new_call": "request checks (`new_call`)", "whole": "**whole path**"}.get(
            name, f"stage `{name}`"
        )
        lines.append(f"| {label} | {percentile(values, 50):.1f} | {percentile(values, 90):.1f} |")
    return "\n".join(lines)


def stage_costs(calls: int = 20_000) -> str:
    """The markdown table of what each part of the path costs a call."""
    names, samples = run(_measure(calls))
    return table(names, samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args(argv)
    print(f"{args.calls} calls; the timing wrapper adds about 0.3 µs a stage")
    print()
    print(stage_costs(args.calls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
