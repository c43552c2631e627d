"""Throwaway Redis Sentinel and Redis Cluster deployments, on free ports, for tests.

``redis-server`` (and ``redis-cli`` for creating the cluster) must be on the PATH.
Nothing here touches the shared Redis on 6379: every server is started here, in a
temporary directory, without persistence, and stopped by :meth:`Topology.stop`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

SERVICE = "mymaster"
_START_TIMEOUT = 20.0


class TopologyError(RuntimeError):
    """A throwaway deployment did not come up."""


def _free_port(*, with_bus: bool = False) -> int:
    """A free TCP port; ``with_bus``: port + 10000 (the cluster bus) is free too."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not with_bus:
            return port
        if port + 10000 < 65536:
            with socket.socket() as bus:
                try:
                    bus.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
    raise TopologyError("no free port pair for a cluster node")


def _wait(what: str, check: Callable[[], bool], timeout: float = _START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, redis.RedisError) as exc:
            last = exc
        time.sleep(0.05)
    raise TopologyError(f"{what} within {timeout:.0f} s (last error: {last!r})")


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise TopologyError(f"{name} is not on the PATH")
    return path


@dataclass
class Topology:
    """Servers started for one deployment; ``url`` is its ``store.redis_url``."""

    directory: Path
    url: str = ""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)

    def spawn(self, name: str, *args: str) -> int:
        port = self.ports[name]
        log = (self.directory / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [_binary("redis-server"), *args], cwd=self.directory, stdout=log, stderr=log
        )
        self.processes.append(process)
        _wait(f"{name} answering on {port}", lambda: _client(port).ping())
        return port

    def stop_one(self, port: int) -> None:
        """Stop the server on ``port`` (e.g. a master, to fail it)."""
        for process in self.processes:
            if process.args[1:3] == ["--port", str(port)]:
                process.terminate()
                process.wait(timeout=5)
                return
        raise TopologyError(f"no server of this topology on port {port}")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


def _client(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2)


_SERVER = ("--bind", "127.0.0.1", "--save", "", "--appendonly", "no")


def start_sentinel(directory: Path, *, replica: bool = False) -> Topology:
    """A master (and optionally a replica of it) watched by one Sentinel.

    ``url`` is ``redis+sentinel://127.0.0.1:<sentinel>/mymaster/0``. With a replica,
    ``SENTINEL FAILOVER mymaster`` can promote it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    topology = Topology(directory)
    try:
        names = ["master", "sentinel"] + (["replica"] if replica else [])
        topology.ports = {name: _free_port() for name in names}
        master = topology.spawn("master", "--port", str(topology.ports["master"]), *_SERVER)
        if replica:
            replica_port = topology.ports["replica"]
            topology.spawn(
                "replica",
                "--port",
                str(replica_port),
                "--replicaof",
                "127.0.0.1",
                str(master),
                *_SERVER,
            )
            _wait(
                "the replica in sync",
                lambda: _client(replica_port).info("replication")["master_link_status"] == "up",
            )
        sentinel_port = topology.ports["sentinel"]
        conf = directory / "sentinel.conf"  # Sentinel rewrites its config: a file of its own
        conf.write_text(
            f"port {sentinel_port}\nbind 127.0.0.1\ndir {directory}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {master} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 2000\n"
            f"sentinel failover-timeout {SERVICE} 10000\n",
            encoding="utf-8",
        )
        topology.spawn("sentinel", str(conf), "--sentinel")

        def known() -> bool:
            sentinel = _client(sentinel_port)
            state = sentinel.execute_command("SENTINEL", "MASTER", SERVICE)
            if not replica:
                return bool(state)
            # Promotable: connected, and its INFO read (else SENTINEL FAILOVER says
            # NOGOODSLAVE).
            replicas = sentinel.execute_command("SENTINEL", "REPLICAS", SERVICE)
            return len(replicas) == 1 and (
                replicas[0][b"flags"] == b"slave" and replicas[0][b"master-link-status"] == b"ok"
            )

        _wait("Sentinel knowing the master" + (" and its replica" if replica else ""), known)
        topology.url = f"redis+sentinel://127.0.0.1:{sentinel_port}/{SERVICE}/0"
    except BaseException:
        topology.stop()
        raise
    return topology


def master_port(topology: Topology) -> int:
    """The port Sentinel currently names as the master's."""
    sentinel = _client(topology.ports["sentinel"])
    _, port = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
    return int(port)


def fail_over(topology: Topology) -> int:
    """Promote the replica with ``SENTINEL FAILOVER``; the new master's port.

    Returns once the new master takes writes. The old one, still running, takes
    writes too until Sentinel turns it into a replica (about 10 s later; the resync
    then drops them): callers that want no such window stop it (``stop_one``).
    """
    before = master_port(topology)
    _client(topology.ports["sentinel"]).execute_command("SENTINEL", "FAILOVER", SERVICE)
    _wait("Sentinel naming a new master", lambda: master_port(topology) != before)
    after = master_port(topology)

    def switched() -> bool:
        # GET-MASTER-ADDR-BY-NAME names the promoted replica as soon as it is chosen;
        # SENTINEL MASTER (what redis-py asks) only once the switch is done.
        sentinel = _client(topology.ports["sentinel"])
        state = sentinel.execute_command("SENTINEL", "MASTER", SERVICE)
        return int(state[b"port"]) == after

    _wait("Sentinel switching to the new master", switched)
    _wait(
        "the new master taking writes",
        lambda: _client(after).info("replication")["role"] == "master",
    )
    return after


def start_cluster(directory: Path, masters: int = 3) -> Topology:
    """A cluster of ``masters`` masters and no replicas, every slot covered.

    ``url`` is ``redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,...``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    topology = Topology(directory)
    try:
        topology.ports = {f"node{i}": _free_port(with_bus=True) for i in range(masters)}
        for name, port in topology.ports.items():
            topology.spawn(
                name,
                "--port",
                str(port),
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(directory / f"{name}.conf"),
                "--cluster-node-timeout",
                "5000",
                *_SERVER,
            )
        addresses = [f"127.0.0.1:{port}" for port in topology.ports.values()]
        created = subprocess.run(
            [_binary("redis-cli"), "--cluster", "create", *addresses, "--cluster-yes"],
            capture_output=True,
            timeout=_START_TIMEOUT,
        )
        if created.returncode != 0:
            raise TopologyError(f"redis-cli --cluster create failed: {created.stdout!r}")

        def ready() -> bool:
            for port in topology.ports.values():
                info = _client(port).execute_command("CLUSTER", "INFO").decode()
                if "cluster_state:ok" not in info:
                    return False
            return True

        _wait("cluster_state:ok on every node", ready)
        topology.url = "redis+cluster://" + ",".join(addresses)
    except BaseException:
        topology.stop()
        raise
    return topology
