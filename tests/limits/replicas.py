"""Several gateway processes on one config, as replicas behind a load balancer would run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from click.testing import CliRunner

from steadyllm.cli import main


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_key(config: Path, *args: str) -> dict[str, Any]:
    """A key made with ``steadyllm keys create --json`` (which also migrates the store)."""
    result = CliRunner().invoke(main, ["keys", "create", "--config", str(config), "--json", *args])
    assert result.exit_code == 0, result.output
    created: dict[str, Any] = yaml.safe_load(result.stdout)
    return created


def write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "steadyllm.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class ReplicaSet:
    """Started ``steadyllm serve`` processes: their URLs, and ways to end them."""

    urls: list[str]
    processes: list[subprocess.Popen[bytes]]
    logs: list[Path]

    def kill(self, index: int) -> None:
        """SIGKILL replica ``index``: no shutdown, no flush, as a crash or an OOM kill."""
        process = self.processes[index]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self, timeout: float = 20) -> list[int]:
        """SIGTERM every replica still running (they drain and flush), and wait; their codes."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return [int(process.returncode) for process in self.processes]

    def log(self, index: int) -> str:
        return self.logs[index].read_text()


@contextmanager
def replica_set(config: Path, count: int, tmp_path: Path) -> Iterator[ReplicaSet]:
    """``count`` ``steadyllm serve`` processes on free ports, stopped (SIGTERM) on exit."""
    started = ReplicaSet([], [], [])
    try:
        for index in range(count):
            port = free_port()
            log_path = tmp_path / f"replica-{index}.log"
            with log_path.open("w") as log:
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "steadyllm.cli",
                        "serve",
                        "--config",
                        str(config),
                        "--port",
                        str(port),
                    ],
                    stdout=log,
                    stderr=log,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            started.processes.append(process)
            started.logs.append(log_path)
            started.urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        for url, process, log_path in zip(
            started.urls, started.processes, started.logs, strict=True
        ):
            while True:
                try:
                    if httpx.get(f"{url}/health/live").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"replica did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.05)
        yield started
    finally:
        started.stop()


@contextmanager
def replicas(config: Path, count: int, tmp_path: Path) -> Iterator[list[str]]:
    """``count`` ``steadyllm serve`` processes on free ports; yields their base URLs."""
    with replica_set(config, count, tmp_path) as started:
        yield started.urls
