"""Memory: what a gateway process holds for 100,000 cached answers.

Each configuration runs in a fresh Python process: the gateway's cache stage
(``ResponseCache`` with its in-process L1, semantic index and stats, over the
default SQLite L2 in a temporary file) answers N distinct questions from a stand-in
upstream, so every answer is kept. The process's resident memory is read before the
first call and after the last (after the L2 writes have drained and a full garbage
collection), and the difference divided by N is the cost of one entry. The direct
call for scale is the same N answers held as plain dicts in one list, in the same
process, measured the same way.

    python -m benchmarks.bench_cache_memory            # ~2 min, writes docs/BENCHMARKS.md
    python -m benchmarks.bench_cache_memory --entries 20000 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil

from benchmarks import harness
from benchmarks.bench_cache import questions
from steadyllm.cache.runtime import ResponseCache
from steadyllm.cache.settings import CacheSettings
from steadyllm.call import Call, Principal, Response, Usage
from steadyllm.config import StoreSettings
from steadyllm.pipeline import fold
from steadyllm.stages.cache import CacheStage
from steadyllm.stores import open_stores

TITLE = "Cache memory"

CONFIGS: dict[str, dict[str, Any]] = {
    "default settings (L1 1,000 entries; semantic index 100,000)": {},
    "every entry in L1 too (l1_max_entries: 100,000)": {
        "l1_max_entries": 100_000,
        "l1_ttl": 86_400,  # the fill takes minutes; L1 copies would lapse after 60 s
    },
    "exact cache only (semantic off; L1 100,000)": {
        "l1_max_entries": 100_000,
        "l1_ttl": 86_400,
        "semantic": {"matcher": "off"},
    },
}


def _answer(number: int, question: str) -> dict[str, Any]:
    """A typical short chat answer, as an upstream sends it."""
    text = f"Thanks for asking. {question} Our team will confirm the details by email ({number})."
    return {
        "id": f"chatcmpl-{number:012d}",
        "object": "chat.completion",
        "created": 1_763_000_000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 24, "completion_tokens": 31, "total_tokens": 55},
    }


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


async def _fill(entries: int, overrides: dict[str, Any], workdir: Path) -> dict[str, Any]:
    texts = questions(entries, random.Random(11))
    settings = CacheSettings.model_validate(
        {"max_temperature": 0.5, "max_entries": entries, **overrides}
    )
    stores = await open_stores(StoreSettings(url=f"sqlite:///{workdir / 'cache.db'}"))
    cache = ResponseCache(settings, stores.cache)
    await cache.start()
    await cache.wait_idle()

    async def upstream(call: Call) -> Response:
        number = call.notes["n"]
        usage = Usage(input_tokens=24, output_tokens=31)
        return Response(body=_answer(number, texts[number]), usage=usage, deployment="d1")

    handler = fold([CacheStage(cache)], upstream)
    before = _rss()
    for number, text in enumerate(texts):
        call = Call(
            request_id=f"r{number}",
            kind="chat",
            body={
                "model": "fast",
                "messages": [{"role": "user", "content": text}],
                "temperature": 0,
            },
            headers={},
            principal=Principal(tenant="default"),
        )
        call.notes["n"] = number
        await handler(call)
        if number % 2000 == 1999:
            await cache.flush()  # as the upkeep task would, between bursts
    await cache.wait_idle()
    after = _rss()
    index = cache.index
    held = {
        "index": len(index) if index is not None else 0,
        "l1": len(cache._l1),  # what the cache holds
    }
    await cache.stop()
    await stores.close()
    return {"before": before, "after": after, "held": held}


def _plain(entries: int) -> dict[str, Any]:
    texts = questions(entries, random.Random(11))
    before = _rss()
    kept = [_answer(number, text) for number, text in enumerate(texts)]
    after = _rss()
    return {"before": before, "after": after, "held": {"list": len(kept)}}


def one(name: str, entries: int) -> dict[str, Any]:
    """Measure one configuration in this process (a fresh one: see ``main``)."""
    if name == "plain":
        return _plain(entries)
    with tempfile.TemporaryDirectory() as workdir:
        return asyncio.run(_fill(entries, CONFIGS[name], Path(workdir)))


def _run(name: str, entries: int) -> dict[str, Any]:
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_cache_memory",
            "--one",
            name,
            "--entries",
            str(entries),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=harness.ROOT,
    ).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def render(entries: int, results: dict[str, dict[str, Any]]) -> str:
    plain = results["plain"]
    plain_bytes = (plain["after"] - plain["before"]) / entries
    lines = [
        f"- Machine: {harness.machine()}",
        f"- Command: `{harness.command_line()}`",
        f"- Date: {harness.now()}",
        f"- Setup: {entries:,} distinct questions (about 12 words each) answered by a "
        "stand-in upstream through the cache stage, each configuration in a fresh "
        "process; resident memory after a full collection, before the first call and "
        "after the last; L2 is the default SQLite store in a file (on disk, not counted).",
        "",
        "| configuration | entries held | RSS added | per entry | vs the answers as plain dicts |",
        "| --- | --- | ---: | ---: | ---: |",
        f"| the {entries:,} answers as plain dicts in a list (the direct call) | "
        f"{plain['held']['list']:,} | {(plain['after'] - plain['before']) / 2**20:.1f} MiB | "
        f"{plain_bytes:,.0f} B | 1.00x |",
    ]
    for name in CONFIGS:
        got = results[name]
        added = got["after"] - got["before"]
        held = ", ".join(f"{k} {v:,}" for k, v in got["held"].items())
        lines.append(
            f"| {name} | {held} | {added / 2**20:.1f} MiB | {added / entries:,.0f} B | "
            f"{added / entries / plain_bytes:.2f}x |"
        )
    lines += [
        "",
        "The semantic index keeps each question's normalised words (for the Jaccard "
        "matcher) and its key; L1 keeps the whole answer. With the defaults, 100,000 "
        "entries cost the process the index only; raising `l1_max_entries` to hold every "
        "answer in memory as well costs what the table says.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.entries)))
        return 0
    results = {name: _run(name, args.entries) for name in ["plain", *CONFIGS]}
    text = render(args.entries, results)
    print(text)
    if not args.no_write:
        harness.write_section(TITLE, text)
        print(f"written to {harness.DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
