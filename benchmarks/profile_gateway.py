"""Profile: where one gateway worker spends its CPU under open-loop load.

Starts the simulator (50 ms) and one gateway worker as in ``bench_overhead``,
offers ``--rate`` requests per second for ``--duration`` seconds, and samples the
gateway with ``py-spy record`` (attached to the running process, so the
gateway runs exactly as it does in production). The collapsed stacks are then
summarised: the share of samples by the code they were in (self time, grouped by
library), the steadyllm functions by inclusive time, and the hottest leaf
functions. Needs ``py-spy`` (``pip install py-spy``; a dev tool, not a dependency).

    python -m benchmarks.profile_gateway                 # ~25 s, writes docs/BENCHMARKS.md
    python -m benchmarks.profile_gateway --svg /tmp/gateway.svg --no-write
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from benchmarks import harness
from benchmarks.bench_pipeline import stage_costs
from benchmarks.loadgen import run, run_load

TITLE = "Profile"
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")

# Leaf frames are grouped by where their file lives, first match wins.
_GROUPS: tuple[tuple[str, str], ...] = (
    ("steadyllm/", "steadyllm"),
    ("aiohttp/web", "aiohttp server"),
    ("aiohttp/", "aiohttp client and shared"),
    ("aiohappyeyeballs/", "aiohttp client and shared"),
    ("multidict/", "aiohttp client and shared"),
    ("yarl/", "aiohttp client and shared"),
    ("sqlalchemy/", "records: SQLAlchemy"),
    ("aiosqlite/", "records: aiosqlite / sqlite3"),
    ("sqlite3", "records: aiosqlite / sqlite3"),
    ("asyncio/", "asyncio"),
    ("uvloop/", "uvloop"),
    ("logging/", "logging"),
    ("uuid.py", "uuid"),
)


def _parse(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def _split(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame)
    if match is None:
        return frame, ""
    return match.group("function"), match.group("file")


def _group(file: str) -> str:
    for marker, name in _GROUPS:
        if marker in file:
            return name
    return "other (C extensions, interpreter)" if not file else "other Python"


def _short(file: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


# Whole stacks by the layer they serve, first match wins (the upstream call runs
# inside the stages, and the stages inside the HTTP edge).
_LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "upstream call (client, provider)",
        ("UpstreamHttp.", "OpenAIProvider.", "aiohttp/client", "aiohttp/connector"),
    ),
    (
        "call records (writer task, SQLAlchemy, SQLite thread)",
        ("RecordWriter.", "aiosqlite/", "sqlalchemy/"),
    ),
    ("stages (the request path in steadyllm)", ("Gateway.handle",)),
    ("HTTP edge (aiohttp server, parse, answer)", ("aiohttp/web_", "DataPlane.")),
)
_NOT_INTERESTING = frozenset({"<module>", "serve", "serve_forever", "run_loop"})


def _layer(stack: tuple[str, ...]) -> str:
    for name, markers in _LAYERS:
        if any(marker in frame for frame in stack for marker in markers):
            return name
    return "event loop itself (uvloop's C: polling, socket reads) and the rest"


def summarise(stacks: Counter[tuple[str, ...]], top: int = 15) -> str:
    total = sum(stacks.values()) or 1
    layers: Counter[str] = Counter()
    for stack, count in stacks.items():
        layers[_layer(stack)] += count
    by_group: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, count in stacks.items():
        function, file = _split(stack[-1])
        by_group[_group(file)] += count
        leaves[f"`{function}` ({_short(file)})"] += count
        seen = set()
        for frame in stack:
            function, file = _split(frame)
            in_steadyllm = file.startswith("steadyllm/") or "/steadyllm/" in file
            if in_steadyllm and function not in _NOT_INTERESTING:
                name = f"`{function}` ({_short(file)})"
                if name not in seen:
                    seen.add(name)
                    inclusive[name] += count

    def pct(count: int) -> str:
        return f"{100 * count / total:.1f} %"

    lines = [
        f"{total} samples. By layer (whole stacks):",
        "",
        "| layer | share of samples |",
        "| --- | --- |",
        *(f"| {name} | {pct(count)} |" for name, count in layers.most_common()),
        "",
        "Self time by where the code lives:",
        "",
        "| code | share of samples |",
        "| --- | --- |",
        *(f"| {name} | {pct(count)} |" for name, count in by_group.most_common()),
        "",
        "steadyllm functions, inclusive (time in them and everything they call):",
        "",
        "| function | inclusive |",
        "| --- | --- |",
        *(f"| {name} | {pct(count)} |" for name, count in inclusive.most_common(top)),
        "",
        "Hottest functions, self time:",
        "",
        "| function | self |",
        "| --- | --- |",
        *(f"| {name} | {pct(count)} |" for name, count in leaves.most_common(top)),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--sample-rate", type=int, default=500, help="py-spy samples per second")
    parser.add_argument("--store", default=None, help="store.url (default: SQLite file)")
    parser.add_argument("--raw", default=None, help="keep the collapsed stacks here")
    parser.add_argument("--svg", default=None, help="also write a flame graph here")
    parser.add_argument("--no-write", action="store_true", help="do not touch the docs")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        sys.exit("py-spy is not installed: pip install py-spy")
    with harness.workspace() as workdir, harness.sim_process(workdir) as sim:
        config = harness.gateway_config(sim, workdir, store=args.store)
        with harness.gateway_process(workdir, config) as gateway:
            # Warm the connection pools before sampling.
            run(run_load(f"{gateway.url}/v1/chat/completions", rate=args.rate, duration=2))
            raw = Path(args.raw) if args.raw else workdir / "gateway.collapsed"
            record = [py_spy, "record", "--pid", str(gateway.process.pid), "--nonblocking"]
            record += ["--rate", str(args.sample_rate), "--duration", str(int(args.duration))]
            profiler = subprocess.Popen(
                [*record, "--format", "raw", "--output", str(raw)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            svg = None
            if args.svg:
                svg = subprocess.Popen(
                    [*record, "--format", "flamegraph", "--output", args.svg],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            cpu = gateway.cpu_seconds()
            result = run(
                run_load(
                    f"{gateway.url}/v1/chat/completions",
                    rate=args.rate,
                    duration=args.duration,
                    warmup=0.5,
                )
            )
            cpu = gateway.cpu_seconds() - cpu
            profiler.wait(60)
            if svg is not None:
                svg.wait(60)
            stacks = _parse(raw)
    per_request = cpu / max(1, result.sent) * 1e6
    stages = stage_costs()
    text = "\n".join(
        [
            f"- Machine: {harness.machine()}",
            f"- Command: `{harness.command_line()}`",
            f"- Date: {harness.now()}",
            f"- Load: {args.rate:g} req/s for {args.duration:g} s against one worker "
            f"(store `{args.store or 'sqlite (file)'}`), sampled by `py-spy record "
            f"--nonblocking --rate {args.sample_rate}`; gateway CPU "
            f"{per_request:.0f} µs per request, {result.error_count} errors.",
            "",
            "How to read it: a sample is the gateway's stack at one instant. Layers are "
            "whole stacks: the HTTP edge is aiohttp's server reading the request and "
            "writing the answer (and the data plane around the pipeline); the upstream "
            "call is the provider and its HTTP client (`providers/_wire.py` for whole "
            "answers, aiohttp's for streams); the stages are steadyllm's request "
            "path without the upstream call; call records are the writer task, SQLAlchemy "
            "and the SQLite thread. Samples in uvloop's own C code (polling, socket reads, "
            "callbacks without a Python frame above them) fall under the event loop; "
            "`--nonblocking` sampling may count some of its waiting there too.",
            "",
            summarise(stacks),
            "",
            "The stages alone, in-process (`python -m benchmarks.bench_pipeline`: the "
            "provider answers at once, so no aiohttp and no kernel; each stage's own time, "
            "its handler minus the next one's):",
            "",
            stages,
        ]
    )
    print(text)
    if not args.no_write:
        harness.write_section(TITLE, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
