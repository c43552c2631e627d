"""What the safety checks cost per message, and per call through the whole pipeline.

Pure parts, in microseconds (median of repeated passes over the labelled sets):
the input rules (``scan``) on benign and on attack messages, the leak check on an
ordinary answer, JSON Schema validation of a JSON answer. Each is shown next to a
direct call measured in the same run: decoding the request body with orjson, which
the gateway does for every request anyway.

In context: median time of an in-process chat through the whole gateway (the
in-process simulator answers at once) with ``safety.enabled`` true and false; the
difference is what guard_in, validate and guard_out add to a call.

    python -m benchmarks.bench_safety            # ~20 s; --write updates docs/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from benchmarks.harness import command_line, fmt, machine, now, write_section
from steadyllm.gateway import Gateway
from steadyllm.policy.injection import scan
from steadyllm.policy.leak import PromptFingerprint, check_leak
from steadyllm.safety.evaluation import load_labelled
from steadyllm.safety.validation import Expectation, validate_text

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SYSTEM = (
    "You are the booking assistant for SparkleClean, a cleaning company in Leeds. Never offer "
    "discounts above 10 percent. Never reveal the phone numbers or home addresses of staff. "
    "Only discuss cleaning services, bookings, prices and availability."
)
ANSWER = (
    "Thanks for booking with SparkleClean! Your standard clean is confirmed for Tuesday at "
    "10am. Our staff will bring all cleaning supplies; prices start at 60 pounds."
)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"slot": {"type": "string"}, "confirmed": {"type": "boolean"}},
    "required": ["slot", "confirmed"],
}


def per_item(items: list[Any], work: Callable[[Any], object], passes: int) -> float:
    """Median over ``passes`` of the mean microseconds per item."""
    timings = []
    for _ in range(passes):
        started = time.perf_counter()
        for item in items:
            work(item)
        timings.append((time.perf_counter() - started) / len(items) * 1e6)
    return statistics.median(timings)


async def pipeline(enabled: bool, calls: int) -> float:
    config = {
        "store": {"url": "memory://"},
        "cache": {"enabled": False},
        "safety": {"enabled": enabled},
    }
    async with Gateway.from_config(config) as gateway:
        timings = []
        for number in range(calls):
            messages = [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"Can I book a standard clean on day {number}?"},
            ]
            started = time.perf_counter()
            await gateway.chat(messages, model="fast")
            timings.append((time.perf_counter() - started) * 1e6)
        return statistics.median(timings[calls // 10 :])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=15)
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    rows = load_labelled(DATA / "safety_dev.jsonl") + load_labelled(DATA / "safety_heldout.jsonl")
    benign = [r.text for r in rows if not r.attack]
    attacks = [r.text for r in rows if r.attack]
    bodies = [
        orjson.dumps({"model": "fast", "messages": [{"role": "user", "content": t}]})
        for t in benign
    ]
    fingerprint = PromptFingerprint.of(SYSTEM)
    expectation = Expectation(json=True, schema=SCHEMA)
    answer_json = '{"slot": "15:00", "confirmed": true}'
    scan(benign[0])  # compile, warm
    direct = per_item(bodies, orjson.loads, args.passes)
    figures = {
        "input rules, benign message": per_item(benign, scan, args.passes),
        "input rules, attack message": per_item(attacks, scan, args.passes),
        "leak check, ordinary answer": per_item(
            [ANSWER] * 50, lambda text: check_leak(text, fingerprint), args.passes
        ),
        "JSON Schema validation, small answer": per_item(
            [answer_json] * 50, lambda text: validate_text(text, expectation), args.passes
        ),
    }
    off = asyncio.run(pipeline(False, args.calls))
    on = asyncio.run(pipeline(True, args.calls))
    lines = [
        f"Measured {now()} with `{command_line()}` on {machine()}.",
        "",
        f"Direct call for scale: decoding a chat request body with orjson, "
        f"{fmt(direct)} µs per message (same run).",
        "",
        "| check | µs per message | ratio to the direct call |",
        "| --- | ---: | ---: |",
    ]
    for name, value in figures.items():
        lines.append(f"| {name} | {fmt(value, 1)} | {fmt(value / direct, 1)} |")
    lines += [
        "",
        f"Median in-process chat through the whole gateway (simulated upstream answering at "
        f"once, {args.calls} calls, cache off): safety on {fmt(on, 0)} µs, safety off "
        f"{fmt(off, 0)} µs; the three safety stages add {fmt(on - off, 0)} µs "
        f"({fmt((on / off - 1) * 100, 1)}%) to a call with a system prompt and a user message.",
        "",
        f"Messages: {len(benign)} benign and {len(attacks)} attack messages of the labelled sets "
        "(`tests/data/safety_*.jsonl`). Benign messages mostly stop at the anchor prefilter "
        "(a word-set look-up per rule family); attacks run the matching rules and every "
        "decoded layer, which is why they cost more.",
    ]
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section("Safety", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
