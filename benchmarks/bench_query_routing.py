"""Query-classification routing: what sending simple queries to a cheap model saves.

A mixed set of support questions (short factual ones and long or analytical ones) goes
through an in-process gateway twice against the in-process simulator: once with every
query on the strong model, once with ``variants.query_routing`` sending the ones the
rule classifier calls simple to the cheap model. Cost is what the record stage
charged, from the configured prices.

    python -m benchmarks.bench_query_routing           # ~5 s, writes docs/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from typing import Any

from benchmarks import harness
from steadyllm.gateway import Gateway

TITLE = "Query routing"
CHEAP = {"input_per_million": 0.15, "output_per_million": 0.60}
STRONG = {"input_per_million": 2.50, "output_per_million": 10.00}

SIMPLE = [
    "What time is check-in?",
    "Is breakfast included?",
    "Do you have parking?",
    "What is the wifi password?",
    "Can I bring my dog?",
    "Where is the nearest station?",
    "Is the pool open today?",
    "Hello!",
]
COMPLEX = [
    "Explain the differences between the flexible and the non-refundable rate, and which "
    "one makes sense if my flight might move by a day.",
    "Compare the family suite and two connecting rooms for two adults and three children: "
    "price, space, and noise. Which is better for a week? Why?",
    "I was charged twice and the second charge has a different amount. Walk me through "
    "step by step what happened and how to get it refunded.",
    "Plan a three-day itinerary near the hotel for someone who cannot walk far.",
]


def _config(routing: bool) -> dict[str, Any]:
    def model(name: str, price: dict[str, float]) -> dict[str, Any]:
        return {"name": name, "deployments": [{"provider": "sim", "model": name, "price": price}]}

    config: dict[str, Any] = {
        "store": {"url": "memory://"},
        "records": {"flush_interval": 0.01},
        "cache": {"enabled": False},
        "models": [model("assistant", STRONG), model("cheap", CHEAP)],
    }
    if routing:
        config["variants"] = {"query_routing": {"assistant": {"simple": "cheap"}}}
    return config


async def _run(routing: bool, repeat: int) -> tuple[float, Counter[str]]:
    async with Gateway.from_config(_config(routing)) as gateway:
        for _ in range(repeat):
            for text in SIMPLE * 3 + COMPLEX:  # three simple questions to one complex
                await gateway.chat([{"role": "user", "content": text}], model="assistant")
        await gateway.records.flush()
        records = await gateway.stores.records.list_calls(limit=1_000_000)
    classes = Counter(r.metadata.get("query_class", "unrouted") for r in records)
    return sum(r.cost_usd or 0.0 for r in records), classes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-write", action="store_true", help="do not touch the docs")
    args = parser.parse_args(argv)
    strong_cost, _ = asyncio.run(_run(False, args.repeat))
    routed_cost, classes = asyncio.run(_run(True, args.repeat))
    saving = 1 - routed_cost / strong_cost
    total = sum(classes.values())
    lines = [
        f"- Machine: {harness.machine()}",
        f"- Command: `{harness.command_line()}`",
        f"- Date: {harness.now()}",
        f"- Setup: {total} chat calls (three short factual questions to one long or "
        "analytical one) through an in-process gateway and the in-process simulator; "
        f"strong model ${STRONG['input_per_million']}/${STRONG['output_per_million']} per "
        f"million tokens, cheap ${CHEAP['input_per_million']}/"
        f"${CHEAP['output_per_million']}; the rule classifier (`policy/query_class.py`).",
        "",
        "| setup | cost | classified simple | classified complex |",
        "| --- | --- | --- | --- |",
        f"| every query on the strong model | ${strong_cost:.5f} | | |",
        f"| query routing | ${routed_cost:.5f} | {classes['simple']} | {classes['complex']} |",
        "",
        f"Saving: **{saving:.1%}** of the spend.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        harness.write_section(TITLE, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
