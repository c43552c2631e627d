"""What every benchmark shares: the machine, the servers as processes, and the report.

The simulator and the gateway run as separate processes on loopback, as they
would in production; the load generator runs in the benchmark's own process.
Each process's CPU time is read with psutil, so the report can say what one
request cost the gateway, and what the simulator and the generator used of the
same cores.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil
import yaml

__all__ = [
    "DOCS",
    "Server",
    "command_line",
    "fmt",
    "free_port",
    "gateway_process",
    "machine",
    "sim_process",
    "write_section",
]

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "BENCHMARKS.md"
PRICE = {"input_per_million": 0.5, "output_per_million": 1.5}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown"


def machine() -> str:
    """One line naming the machine, the interpreter and the libraries that matter."""
    libs = ", ".join(f"{name} {version(name)}" for name in ("aiohttp", "uvloop", "orjson"))
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} cores ({_cpu_model()}), {memory:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}, "
        f"Python {platform.python_version()} ({platform.python_implementation()}), {libs}"
    )


def command_line() -> str:
    module = sys.modules["__main__"].__spec__
    name = module.name if module is not None else sys.argv[0]
    return shlex.join(["python", "-m", name, *sys.argv[1:]])


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def fmt(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


@dataclass
class Server:
    """A server process on loopback."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the process and every child it started."""
        total = 0.0
        try:
            root = psutil.Process(self.process.pid)
            for process in (root, *root.children(recursive=True)):
                times = process.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
        return total

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def _wait_ready(server: Server, path: str, timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode}:\n"
                + server.log.read_text()[-2000:]
            )
        try:
            with urllib.request.urlopen(server.url + path, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} did not start:\n" + server.log.read_text()[-2000:])
        time.sleep(0.1)


def _pythonpath(first: Path | None = None) -> str:
    # The servers run in a scratch directory; ``benchmarks`` must still import.
    paths = (str(first) if first else None, str(ROOT), os.environ.get("PYTHONPATH"))
    return os.pathsep.join(p for p in paths if p)


@contextmanager
def _process(
    name: str,
    argv: list[str],
    port: int,
    ready_path: str,
    workdir: Path,
    source: Path | None = None,
) -> Iterator[Server]:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": _pythonpath(source)},
        )
    server = Server(name, process, port, log)
    try:
        _wait_ready(server, ready_path)
        yield server
    finally:
        server.stop()


@contextmanager
def sim_process(
    workdir: Path, *, latency_ms: float = 50.0, token_delay_ms: float = 0.0
) -> Iterator[Server]:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "benchmarks._sim",
        "--port",
        str(port),
        "--latency-ms",
        str(latency_ms),
        "--token-delay-ms",
        str(token_delay_ms),
    ]
    with _process("sim", argv, port, "/v1/models", workdir) as server:
        yield server


def gateway_config(
    sim: Server, workdir: Path, *, store: str | None = None, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One model, ``bench``, served by the simulator through the openai provider."""
    config: dict[str, Any] = {
        "server": {"shutdown_timeout": 10},
        "store": {"url": store or f"sqlite:///{workdir / 'bench.db'}"},
        "models": [
            {
                "name": "bench",
                "deployments": [
                    {
                        "provider": "openai",
                        "model": "sim-fast",
                        "api_base": f"{sim.url}/v1",
                        "api_key": "sk-bench",
                        "price": PRICE,
                        "max_connections": 1000,
                    }
                ],
            }
        ],
    }
    for key, value in (extra or {}).items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config


@contextmanager
def gateway_process(
    workdir: Path,
    config: Mapping[str, Any],
    *,
    workers: int = 1,
    log_level: str = "info",
    source: Path | None = None,
) -> Iterator[Server]:
    """``steadyllm serve`` as a process, at the command's default log level unless told.

    ``source`` runs the gateway from another tree's ``src`` (an older commit, say).
    """
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    port = free_port()
    serve = ["-m", "steadyllm.cli", "--log-level", log_level, "serve"]
    serve += ["--config", str(path), "--port", str(port)]
    if workers != 1:
        serve += ["--workers", str(workers)]
    argv = [sys.executable, *serve]
    with _process("gateway", argv, port, "/health/live", workdir, source) as server:
        yield server


@contextmanager
def workspace() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="steadyllm-bench-") as name:
        yield Path(name)


def write_section(title: str, body: str, path: Path = DOCS) -> None:
    """Replace the ``## title`` section of ``path`` (or append it), leaving the rest alone."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)
