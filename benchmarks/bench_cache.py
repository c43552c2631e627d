"""The response cache: what an exact hit costs end to end, and semantic lookups at scale.

1. End to end, on loopback: the simulator (0 ms latency) and one gateway (SQLite
   store, default cache settings) as separate processes. One client, one request at
   a time on a kept-alive connection, alternating in slices between the simulator
   directly, the gateway answering an exact hit, and the gateway passing the same
   request through (``Cache-Control: no-cache``). The hit never reaches the
   simulator (checked with ``/sim/stats``).
2. In process: one semantic index (one tenant, one scope: the worst case) holding
   10,000 and 100,000 queries; lookup time for queries that match and queries that
   do not. Jaccard on synthetic questions from the labelled set's domains; the
   embedding index on random unit vectors (384 dimensions, as all-MiniLM-L6-v2), and
   the model's own time to embed one query when the ``embeddings`` extra is installed.

    python -m benchmarks.bench_cache              # ~1 min, writes docs/BENCHMARKS.md
    python -m benchmarks.bench_cache --requests 500 --no-write
"""

from __future__ import annotations

import argparse
import csv
import http.client
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from benchmarks import harness
from steadyllm.cache.embedding import embeddings_available
from steadyllm.cache.semantic_index import SemanticIndex
from steadyllm.cache.settings import DEFAULT_THRESHOLDS

TITLE = "Cache"
LOAD_AT_START = os.getloadavg()
PAIRS = harness.ROOT / "tests" / "data" / "cache_pairs.tsv"
BODY = {
    "model": "bench",
    "temperature": 0,
    "messages": [{"role": "user", "content": "How much does a deep cleaning cost?"}],
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Client:
    """One kept-alive HTTP/1.1 connection; ``post`` returns (ms, response headers)."""

    def __init__(self, port: int) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[float, Any]:
        started = time.perf_counter()
        self._connection.request("POST", path, body=body, headers=headers)
        response = self._connection.getresponse()
        response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}")
        return elapsed, response.headers

    def get_json(self, path: str) -> Any:
        self._connection.request("GET", path)
        response = self._connection.getresponse()
        return orjson.loads(response.read())


def end_to_end(requests: int, rounds: int) -> dict[str, Any]:
    body = orjson.dumps(BODY)
    json_header = {"content-type": "application/json"}
    with harness.workspace() as workdir, harness.sim_process(workdir, latency_ms=0.0) as sim:
        config = harness.gateway_config(sim, workdir)
        with harness.gateway_process(workdir, config) as gateway:
            direct, through = Client(sim.port), Client(gateway.port)
            sim_body = orjson.dumps({**BODY, "model": "sim-fast"})
            _, headers = through.post("/v1/chat/completions", body, json_header)
            assert headers["x-steadyllm-cache"] == "miss"
            for _ in range(50):  # warm both paths
                direct.post("/v1/chat/completions", sim_body, json_header)
                through.post("/v1/chat/completions", body, json_header)
            before = direct.get_json("/sim/stats")["endpoints"].get("/v1/chat/completions", 0)
            samples: dict[str, list[float]] = {"direct": [], "hit": [], "pass": []}
            overhead: list[float] = []
            per_round = max(1, requests // rounds)
            bypass = {**json_header, "cache-control": "no-cache, no-store"}
            for _ in range(rounds):
                for _ in range(per_round):
                    samples["direct"].append(
                        direct.post("/v1/chat/completions", sim_body, json_header)[0]
                    )
                for _ in range(per_round):
                    elapsed, headers = through.post("/v1/chat/completions", body, json_header)
                    assert headers["x-steadyllm-cache"] == "hit"
                    samples["hit"].append(elapsed)
                    overhead.append(float(headers["x-steadyllm-overhead-ms"]))
                for _ in range(per_round):
                    elapsed, headers = through.post("/v1/chat/completions", body, bypass)
                    assert headers["x-steadyllm-cache"] == "bypass"
                    samples["pass"].append(elapsed)
            after = direct.get_json("/sim/stats")["endpoints"].get("/v1/chat/completions", 0)
    upstream = after - before - len(samples["direct"]) - len(samples["pass"])
    return {"samples": samples, "overhead": overhead, "hits_upstream": upstream}


# --- semantic lookups ---------------------------------------------------------------

_NAMES = [
    "Maria",
    "Anna",
    "Carlos",
    "Jenny",
    "Tom",
    "Sarah",
    "Lisa",
    "Karen",
    "Peter",
    "John",
    "Sofia",
    "Ahmed",
    "Wei",
    "Olga",
]
_EXTRA = [
    *_NAMES,
    *(str(n) for n in range(1, 400)),
    *["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
    *[
        "apartment",
        "house",
        "office",
        "studio",
        "flat",
        "condo",
        "villa",
        "garage",
        "kitchen",
        "bathroom",
    ],
    *[
        "street",
        "avenue",
        "road",
        "lane",
        "park",
        "hill",
        "lake",
        "river",
        "north",
        "south",
        "east",
        "west",
    ],
]


def questions(count: int, rng: random.Random) -> list[str]:
    """Distinct questions in the data set's domains: its sentences plus details."""
    with PAIRS.open(newline="", encoding="utf-8") as handle:
        templates = sorted({row["a"] for row in csv.DictReader(handle, delimiter="\t")})
    out: set[str] = set()
    while len(out) < count:
        extra = " ".join(rng.sample(_EXTRA, rng.randint(1, 3)))
        out.add(f"{rng.choice(templates)} {extra}")
    return sorted(out)


def timed(function: Callable[[], Any], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def jaccard_lookups(size: int, lookups: int, rng: random.Random) -> dict[str, list[float]]:
    index = SemanticIndex(
        matcher="jaccard",
        threshold=DEFAULT_THRESHOLDS["jaccard"],
        guard=True,
        max_entries=size,
    )
    texts = questions(size, rng)
    for number, text in enumerate(texts):
        index.add(tenant="t", scope="s", variant=None, key=str(number), text=text, fresh_until=1e12)
    found = rng.sample(texts, lookups)  # the same words: a match above the threshold
    fresh = [f"{text} please confirm by email" for text in questions(lookups, random.Random(7))]
    result: dict[str, list[float]] = {"match": [], "no match": []}
    matched = 0
    for kind, queries in (("match", found), ("no match", fresh)):
        for query in queries:
            started = time.perf_counter()
            hits = index.search(tenant="t", scope="s", text=query.lower(), now=0)
            result[kind].append((time.perf_counter() - started) * 1000)
            matched += kind == "match" and bool(hits)
    assert matched == lookups, f"only {matched} of {lookups} paraphrases matched"
    return result


def embedding_lookups(size: int, lookups: int, rng: random.Random) -> tuple[list[float], float]:
    """Lookup times, and the share of near neighbours (cosine about 0.93) found first."""
    import numpy as np

    generator = np.random.default_rng(rng.randrange(2**32))
    vectors = generator.normal(size=(size, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = SemanticIndex(
        matcher="embedding",
        threshold=DEFAULT_THRESHOLDS["embedding"],
        guard=True,
        max_entries=size,
    )
    for number in range(size):
        index.add(
            tenant="t",
            scope="s",
            variant=None,
            key=str(number),
            text="book a cleaning",
            fresh_until=1e12,
            vector=vectors[number],
        )
    samples = []
    found = 0
    for number in rng.sample(range(size), lookups):
        query = vectors[number] + generator.normal(scale=0.02, size=384).astype(np.float32)
        query /= np.linalg.norm(query)
        started = time.perf_counter()
        hits = index.search(tenant="t", scope="s", text="book a cleaning", now=0, vector=query)
        samples.append((time.perf_counter() - started) * 1000)
        found += bool(hits) and hits[0].key == str(number)
    return samples, found / lookups


def model_encode(repeat: int) -> list[float] | None:
    if not embeddings_available():
        return None
    from steadyllm.cache.embedding import load_minilm

    model = load_minilm()
    model.encode(["warm up"])
    counter = iter(range(10**9))
    return timed(lambda: model.encode([f"Is Tuesday {next(counter)} free?"]), repeat)


# --- report -------------------------------------------------------------------------


def _row(name: str, values: list[float], base: float | None = None) -> str:
    ratio = f"{statistics.median(values) / base:.2f}x" if base else "1.00x"
    return (
        f"| {name} | {len(values)} | {percentile(values, 0.5):.3f} | "
        f"{percentile(values, 0.9):.3f} | {percentile(values, 0.99):.3f} | {ratio} |"
    )


def render(e2e: dict[str, Any], semantic: dict[int, Any], encode: list[float] | None) -> str:
    samples = e2e["samples"]
    direct = statistics.median(samples["direct"])
    hit_p50 = percentile(samples["hit"], 0.5)
    lines = [
        f"Measured {harness.now()} on {harness.machine()}; load average at the start "
        f"{LOAD_AT_START[0]:.2f} (other work on the machine shows in the tails).",
        f"Command: `{harness.command_line()}`.",
        "",
        "**Exact hit, end to end on loopback** (one client, one request at a time, kept-alive "
        "connection; simulator at 0 ms latency; gateway with its default SQLite store):",
        "",
        "| path | requests | p50 ms | p90 ms | p99 ms | p50 vs direct |",
        "| --- | --- | --- | --- | --- | --- |",
        _row("simulator directly", samples["direct"]),
        _row("gateway, exact cache hit", samples["hit"], direct),
        _row("gateway, pass-through to the simulator (no-cache)", samples["pass"], direct),
        "",
        f"A hit takes {hit_p50:.3f} ms at p50 end to end (goal: under 1 ms): "
        f"{'met' if hit_p50 < 1.0 else 'NOT met'}. Requests that reached the simulator "
        f"during the hits: {e2e['hits_upstream']}. The gateway's own time on a hit "
        f"(`x-steadyllm-overhead-ms`): p50 {percentile(e2e['overhead'], 0.5):.3f} ms, "
        f"p99 {percentile(e2e['overhead'], 0.99):.3f} ms. Against an upstream of the "
        "plan's 500-2000 ms, a hit answers in well under 1% of the time.",
        "",
        "**Semantic lookup** (in process; one tenant and scope holding every entry, the "
        "worst case; the time of `SemanticIndex.search`, meaning guard included):",
        "",
        "| matcher | entries | lookups | p50 ms | p90 ms | p99 ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for size, result in semantic.items():
        for kind, values in result["jaccard"].items():
            lines.append(
                f"| Jaccard ({kind}) | {size:,} | {len(values)} | {percentile(values, 0.5):.3f} | "
                f"{percentile(values, 0.9):.3f} | {percentile(values, 0.99):.3f} |"
            )
        values, recall = result["embedding"]
        lines.append(
            f"| embedding index (cosine; near neighbour found: {recall:.1%}) | {size:,} | "
            f"{len(values)} | "
            f"{percentile(values, 0.5):.3f} | {percentile(values, 0.9):.3f} | "
            f"{percentile(values, 0.99):.3f} |"
        )
    lines.append("")
    if encode is not None:
        lines.append(
            f"Embedding one new query with all-MiniLM-L6-v2 on this CPU: p50 "
            f"{percentile(encode, 0.5):.1f} ms, p99 {percentile(encode, 0.99):.1f} ms "
            "(a repeated query comes from the embedding cache instead)."
        )
    else:
        lines.append("The embeddings extra is not installed: model time not measured.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="per path, end to end")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--lookups", type=int, default=500)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    rng = random.Random(1)
    e2e = end_to_end(args.requests, args.rounds)
    semantic = {}
    for size in (int(s) for s in args.sizes.split(",")):
        semantic[size] = {
            "jaccard": jaccard_lookups(size, args.lookups, rng),
            "embedding": embedding_lookups(size, args.lookups, rng),
        }
    text = render(e2e, semantic, model_encode(50))
    print(text)
    if not args.no_write:
        harness.write_section(TITLE, text)
        print(f"written to {harness.DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
