"""Soak: steady load with cache churn; resident memory and every in-memory structure over time.

Starts the simulator and one gateway (``steadyllm serve``: the embedded default's
models, an SQLite store, the cache on with a small ``max_entries`` so eviction
churns, plus models on the simulator process, whose fault plan fails a share of
the attempts), then offers an open-loop mix of requests (``benchmarks/loadgen.py``):

    repeated    30 %  the same 40 questions again and again: exact hits
    paraphrase  15 %  another wording of those questions: semantic lookups (then exact hits)
    unique      25 %  a question never asked before: misses, writes, evictions
    stream      10 %  streamed, half repeated and half unique
    embedded    10 %  the embedded default's in-process simulator (``fast``)
    failing     10 %  a deployment whose key the upstream refuses (401)

and upstream faults on every simulator request (503, resets, cut streams: the
retries and the breaker act). Every few seconds it reads the gateway's RSS and
``GET /api/reliability/runtime``. The first 20 % of the run (at most two minutes)
is warm-up. It fails (exit status 1) when

- resident memory after warm-up grew by 10 % or more (median of the first and the
  last ten per cent of the samples after warm-up),
- a structure held more than its bound at any sample,
- a structure with no bound of its own grew monotonically after warm-up (it grew
  in at least half of the intervals and never shrank: the signature of a leak;
  bounded structures may fill up to their bound),
- the asyncio tasks did not return to their count before the load once it stopped.

It prints the result, writes it as JSON and draws RSS and the structures over time:

    python -m benchmarks.soak                    # 10 minutes at 100 req/s
    python -m benchmarks.soak --minutes 0.5      # a short run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import itertools
import math
import os
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil

from benchmarks import harness
from benchmarks.loadgen import LoadResult, run, run_load
from steadyllm.config import default_settings

__all__ = ["analyse", "soak"]

IMG = harness.ROOT / "docs" / "img"
PAIRS = harness.ROOT / "tests" / "data" / "cache_pairs.tsv"
GROWTH_LIMIT = 0.10
# Client connections per request kind. aiohttp's pool reuses its connections first in,
# first out, so a pool that grew while the (shared) machine stalled never shrinks, and
# the gateway holds a task and buffers for every one: the soak would measure the
# client's high-water mark. Past the cap a due request waits, and the wait counts.
CONNECTIONS = 32
FAULTS = {
    "latency_ms": 20,
    "jitter_ms": 20,
    "token_delay_ms": 2,
    "rate_503": 0.03,
    "reset_rate": 0.005,
    "stream_cut_rate": 0.005,
    "seed": 7,
}
SHARES = {
    "repeated": 0.30,
    "paraphrase": 0.15,
    "unique": 0.25,
    "stream": 0.10,
    "embedded": 0.10,
    "failing": 0.10,
}


def _pairs() -> list[tuple[str, str]]:
    with PAIRS.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [(row["a"], row["b"]) for row in rows if row["label"] == "paraphrase"][:40]


def gateway_config(sim: harness.Server, workdir: Path, cache_entries: int) -> dict[str, Any]:
    """The embedded default's models and store kind, the cache small, models on the sim."""
    remote = {
        "provider": "openai",
        "model": "sim-fast",
        "api_base": f"{sim.url}/v1",
        "api_key": "sk-soak",
        "price": harness.PRICE,
        "timeout": {"connect": 2, "read": 5, "total": 10, "first_token": 5},
    }
    defaults = [m.model_dump(mode="json", exclude_none=True) for m in default_settings().models]
    return {
        "server": {"shutdown_timeout": 10},
        "store": {"url": f"sqlite:///{workdir / 'soak.db'}"},
        "cache": {
            "max_entries": cache_entries,
            "l1_max_entries": max(10, cache_entries // 4),
            "stats_max_entries": cache_entries,
            "cleanup_interval": 5,
            "semantic": {"matcher": "jaccard", "max_entries": cache_entries},
        },
        "models": [
            *defaults,
            {"name": "remote", "deployments": [{**remote, "name": "remote-a"}]},
            {
                "name": "broken",
                "deployments": [{**remote, "name": "broken-a", "api_key": "sim-invalid-key"}],
            },
        ],
    }


def _bodies(kind: str, nonce: str) -> Callable[[int], Mapping[str, Any]]:
    pairs = _pairs()

    def chat(model: str, text: str, **extra: Any) -> dict[str, Any]:
        return {
            "model": model,
            "temperature": 0,
            "max_tokens": 16,
            "messages": [{"role": "user", "content": text}],
            **extra,
        }

    def unique(i: int) -> str:
        return f"Soak {nonce} question {kind} {i}: what is {i % 97} times {i % 89}?"

    makers: dict[str, Callable[[int], Mapping[str, Any]]] = {
        "repeated": lambda i: chat("remote", pairs[i % len(pairs)][0]),
        "paraphrase": lambda i: chat("remote", pairs[i % len(pairs)][1]),
        "unique": lambda i: chat("remote", unique(i)),
        "stream": lambda i: chat(
            "remote", pairs[i % len(pairs)][0] if i % 2 else unique(i), stream=True
        ),
        "embedded": lambda i: chat("fast", unique(i), temperature=0.7),
        "failing": lambda i: chat("broken", unique(i)),
    }
    return makers[kind]


async def _sample(session: aiohttp.ClientSession, url: str, start: float) -> dict[str, Any]:
    asked = time.monotonic()
    async with session.get(f"{url}/api/reliability/runtime") as response:
        body = await response.json()
    try:
        times = psutil.Process(body["pid"]).cpu_times()
        cpu = round(times.user + times.system, 2)
    except psutil.Error:
        cpu = None
    return {
        "t": round(asked - start, 2),
        "cpu_s": cpu,  # the gateway's CPU time so far
        "load1": os.getloadavg()[0],  # the machine's: it is shared
        "in_flight": body["structures"].get("http.in_flight", {}).get("size"),
        "answered_ms": round((time.monotonic() - asked) * 1000, 1),
        "rss": body["rssBytes"],
        "tasks": body["tasks"],
        "sizes": {name: s["size"] for name, s in body["structures"].items()},
        "bounds": {name: s["bound"] for name, s in body["structures"].items()},
    }


async def _drive(
    url: str, *, seconds: float, rate: float, interval: float, settle: float, connections: int
) -> dict[str, Any]:
    """The load, the samples, and the tasks after the load."""
    nonce = uuid.uuid4().hex[:8]
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        start = time.monotonic()
        before = await _sample(session, url, start)
        samples: list[dict[str, Any]] = []
        missed: list[str] = []
        done = asyncio.Event()

        async def sampler() -> None:
            while not done.is_set():
                try:
                    samples.append(await _sample(session, url, start))
                except (aiohttp.ClientError, TimeoutError) as exc:  # a busy machine: skip one
                    missed.append(f"{time.monotonic() - start:.1f}s: {type(exc).__name__}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), interval)

        watcher = asyncio.create_task(sampler())
        loads = [
            run_load(
                f"{url}/v1/chat/completions",
                rate=rate * share,
                duration=seconds,
                warmup=0,
                client="aiohttp",
                bodies=_bodies(kind, nonce),
                timeout=30,
                expect_status=401 if kind == "failing" else 200,
                connections=connections,
            )
            for kind, share in SHARES.items()
        ]
        results: list[LoadResult] = await asyncio.gather(*loads)
        done.set()
        await watcher
        load_ended = time.monotonic() - start
        deadline = time.monotonic() + settle
        after = await _sample(session, url, start)
        while time.monotonic() < deadline and not _idle(after, before):
            await asyncio.sleep(0.5)
            after = await _sample(session, url, start)
        cache = await _cache_figures(session, url)
    return {
        "before": before,
        "samples": samples,
        "after": after,
        "load_ended": load_ended,
        "missed_samples": missed,
        "cache": cache,
        "loads": {kind: r.summary() for kind, r in zip(SHARES, results, strict=True)},
    }


async def _cache_figures(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    """Hits, misses and stores from the cache API."""
    async with session.get(f"{url}/api/reliability/cache/stats?limit=1") as response:
        figures: dict[str, Any] = (await response.json())["overall"]
    return figures


def _idle(sample: Mapping[str, Any], before: Mapping[str, Any]) -> bool:
    sizes = sample["sizes"]
    quiet = all(sizes.get(name, 0) == 0 for name in ("http.in_flight", "telemetry.in_flight"))
    return quiet and sample["tasks"] <= before["tasks"]


def _monotonic(values: list[int]) -> bool:
    """Never shrank and grew in at least half of the intervals (a leak, not a step)."""
    if len(values) < 5:
        return False
    steps = [b - a for a, b in itertools.pairwise(values)]
    return all(s >= 0 for s in steps) and sum(s > 0 for s in steps) >= len(steps) / 2


def analyse(run_data: Mapping[str, Any], *, warmup: float) -> dict[str, Any]:
    """What the samples say: RSS growth, structures over their bound or leaking, tasks."""
    samples: list[dict[str, Any]] = run_data["samples"]
    steady = [s for s in samples if s["t"] >= warmup] or samples[-1:]
    tenth = max(1, len(steady) // 10)
    rss_start = statistics.median(s["rss"] for s in steady[:tenth])
    rss_end = statistics.median(s["rss"] for s in steady[-tenth:])
    growth = (rss_end - rss_start) / rss_start
    slope = _slope([(s["t"], s["rss"]) for s in steady]) * 60 / 2**20
    late = steady[len(steady) // 2 :]
    late_slope = _slope([(s["t"], s["rss"]) for s in late]) * 60 / 2**20
    bounds: dict[str, int | None] = run_data["before"]["bounds"]
    structures: dict[str, dict[str, Any]] = {}
    over, leaking = [], []
    for name, bound in bounds.items():
        series = [s["sizes"].get(name) for s in samples]
        values = [v for v in series if v is not None]
        after = [s["sizes"][name] for s in steady if s["sizes"].get(name) is not None]
        peak = max(values, default=0)
        grows = _monotonic(after)
        if bound is not None and peak > bound:
            over.append(name)
        if bound is None and grows:
            leaking.append(name)
        structures[name] = {
            "bound": bound,
            "peak": peak,
            "end": values[-1] if values else None,
            "after_load": run_data["after"]["sizes"].get(name),
            "monotonic": grows,
        }
    tasks_before, tasks_after = run_data["before"]["tasks"], run_data["after"]["tasks"]
    tasks_ok = tasks_after <= tasks_before
    failures = []
    if growth >= GROWTH_LIMIT:
        failures.append(f"RSS grew {growth:.1%} after warm-up (limit {GROWTH_LIMIT:.0%})")
    failures += [f"{name} exceeded its bound" for name in over]
    failures += [f"{name} grew monotonically with no bound" for name in leaking]
    if not tasks_ok:
        failures.append(f"tasks did not return to baseline ({tasks_before} -> {tasks_after})")
    return {
        "warmup_s": warmup,
        "samples": len(samples),
        "missed_samples": run_data["missed_samples"],
        "rss_mib": {
            "start": round(run_data["before"]["rss"] / 2**20, 1),
            "after_warmup": round(rss_start / 2**20, 1),
            "end": round(rss_end / 2**20, 1),
            "peak": round(max(s["rss"] for s in samples) / 2**20, 1),
        },
        "rss_growth_after_warmup": round(growth, 4),
        "rss_slope_mib_per_min": round(slope, 3),
        "rss_slope_last_half_mib_per_min": round(late_slope, 3),
        "http_in_flight_peak": max((s.get("in_flight") or 0) for s in samples),
        "machine_load1": {
            "min": min(s["load1"] for s in samples),
            "max": max(s["load1"] for s in samples),
        },
        "tasks": {
            "before": tasks_before,
            "peak": max(s["tasks"] for s in samples),
            "after": tasks_after,
            "settled_in_s": round(run_data["after"]["t"] - run_data["load_ended"], 1),
        },
        "structures": structures,
        "over_bound": over,
        "leaking": leaking,
        "failures": failures,
        "passed": not failures,
    }


def _slope(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    mean_t = statistics.fmean(t for t, _ in points)
    mean_v = statistics.fmean(v for _, v in points)
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var if var else 0.0


def soak(
    *,
    minutes: float,
    rate: float,
    cache_entries: int = 200,
    interval: float | None = None,
    settle: float = 20.0,
    connections: int = CONNECTIONS,
) -> dict[str, Any]:
    """Run the servers and the load; the raw samples and the analysis."""
    seconds = minutes * 60
    warmup = min(120.0, 0.2 * seconds)
    every = interval if interval is not None else min(5.0, max(1.0, seconds / 60))
    with harness.workspace() as workdir, harness.sim_process(workdir, latency_ms=20) as sim:
        import urllib.request

        put = urllib.request.Request(
            f"{sim.url}/sim/faults", data=orjson.dumps(FAULTS), method="PUT"
        )
        with urllib.request.urlopen(put, timeout=5) as answer:
            assert answer.status == 200
        config = gateway_config(sim, workdir, cache_entries)
        with harness.gateway_process(workdir, config, log_level="warning") as gateway:
            run_data = run(
                _drive(
                    gateway.url,
                    seconds=seconds,
                    rate=rate,
                    interval=every,
                    settle=settle,
                    connections=connections,
                )
            )
            stats = _sim_stats(sim.url)
        log = _log_summary(gateway.log)
        stored = _stored(workdir / "soak.db")  # the gateway has stopped: records flushed
    result = analyse(run_data, warmup=warmup)
    sent = sum(load["sent"] for load in run_data["loads"].values())
    run_data["cache"]["l2_entries"] = stored["cache"]
    result.update(
        command=harness.command_line(),
        machine=harness.machine(),
        date=harness.now(),
        minutes=minutes,
        rate=rate,
        client_connections_per_kind=connections,
        cache_max_entries=cache_entries,
        faults=FAULTS,
        upstream_requests=stats,
        loads=run_data["loads"],
        gateway_log=log,
        cache=run_data["cache"],
        records={"sent": sent, "stored": stored["records"], "lost": sent - stored["records"]},
    )
    samples = [{k: v for k, v in s.items() if k != "bounds"} for s in run_data["samples"]]
    return {"result": result, "samples": samples}


def _log_summary(path: Path) -> dict[str, Any]:
    """The gateway's warnings and errors (it logs at ``warning``), counted by message."""
    counts: dict[str, int] = {}
    for line in path.read_text(errors="replace").splitlines():
        if " WARNING " in line or " ERROR " in line or "Traceback" in line:
            head = line.split(" ", 2)[-1][:120]
            counts[head] = counts.get(head, 0) + 1
    top = sorted(counts.items(), key=lambda item: -item[1])[:8]
    return {"lines": sum(counts.values()), "top": dict(top)}


def _stored(path: Path) -> dict[str, int]:
    import sqlite3

    from steadyllm.stores.sql.schema import CALL_RECORDS, RESPONSE_CACHE

    with contextlib.closing(sqlite3.connect(path)) as db:
        return {
            name: int(db.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0])
            for name, table in (("records", CALL_RECORDS), ("cache", RESPONSE_CACHE))
        }


def _sim_stats(url: str) -> Any:
    import urllib.request

    with urllib.request.urlopen(f"{url}/sim/stats", timeout=5) as answer:
        return orjson.loads(answer.read()).get("endpoints")


def plot(samples: list[dict[str, Any]], result: Mapping[str, Any], path: Path) -> None:
    """RSS and tasks on top, the structures that changed below (size over time)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [s["t"] / 60 for s in samples]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 8.5), sharex=True)
    warm = result["warmup_s"] / 60
    for axis in (top, bottom):
        axis.axvspan(0, warm, color="0.9", label="warm-up" if axis is top else None)
    top.plot(times, [s["rss"] / 2**20 for s in samples], color="C0", label="RSS (MiB)")
    top.set_ylabel("RSS (MiB)")
    tasks = top.twinx()
    tasks.plot(times, [s["tasks"] for s in samples], color="C1", alpha=0.6, label="tasks")
    tasks.set_ylabel("asyncio tasks")
    top.set_title(
        f"Soak: {result['rate']:g} req/s for {result['minutes']:g} min; RSS after warm-up "
        f"{result['rss_growth_after_warmup']:+.1%}"
    )
    handles = top.get_legend_handles_labels()[0] + tasks.get_legend_handles_labels()[0]
    top.legend(handles=handles, loc="lower right", fontsize=8)
    changed = [
        name
        for name, s in result["structures"].items()
        if s["peak"] and not name.startswith("upstream.")
    ]
    changed.sort(key=lambda n: -result["structures"][n]["peak"])
    colours = plt.get_cmap("tab20")
    for index, name in enumerate(changed[:16]):
        values = [s["sizes"].get(name) for s in samples]
        series = [math.nan if v is None else v for v in values]
        bottom.plot(times, series, label=name, color=colours(index % 20))
    bottom.set_yscale("symlog", linthresh=10)
    bottom.set_ylabel("entries")
    bottom.set_xlabel("minutes")
    bottom.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.15))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _json_text(out: Mapping[str, Any]) -> str:
    """The result indented, then one line per sample (a ten-minute run has 120)."""
    result = orjson.dumps(out["result"], option=orjson.OPT_INDENT_2).decode()
    samples = ",\n".join(orjson.dumps(sample).decode() for sample in out["samples"])
    return f'{{"result": {result},\n"samples": [\n{samples}\n]}}\n'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--cache-entries", type=int, default=200, help="cache.max_entries")
    parser.add_argument("--interval", type=float, default=None, help="seconds between samples")
    parser.add_argument(
        "--connections", type=int, default=CONNECTIONS, help="client connections per kind"
    )
    parser.add_argument("--json", type=Path, default=IMG / "soak.json")
    parser.add_argument("--plot", type=Path, default=IMG / "soak.png")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    # A background job ignores SIGINT: stop on SIGTERM too, through the servers' cleanup.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    out = soak(
        minutes=args.minutes,
        rate=args.rate,
        cache_entries=args.cache_entries,
        interval=args.interval,
        connections=args.connections,
    )
    result = out["result"]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(_json_text(out))
    if not args.no_plot:
        plot(out["samples"], result, args.plot)
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    for failure in result["failures"]:
        sys.stderr.write(f"FAIL: {failure}\n")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
