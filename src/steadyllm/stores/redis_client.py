"""Every Redis client steadyllm uses comes from :func:`redis_client`, by URL.

Three deployments, one setting (``store.redis_url``):

``redis://[[user]:password@]host[:port][/db][?options]`` (also ``rediss://`` for TLS,
``unix:///path/to/socket[?db=N]``)
    One server: redis-py's own URL form.
``redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db][?options]``
    Redis Sentinel: the hosts are Sentinel daemons (default port 26379), ``service``
    the monitored master's name. The client asks the Sentinels for the master and
    asks again when a failover demotes it. ``rediss+sentinel://`` uses TLS to the
    Sentinels and to the master. This is the form of the ``redis-sentinel-url``
    package, also accepted by RedisVL and Prefect.
``redis+cluster://[[user]:password@]host[:port][,host[:port]...][/][?options]``
    Redis Cluster: the hosts are startup nodes (default port 6379; one is enough,
    the client learns the others); ``rediss+cluster://`` for TLS. No database number:
    a cluster has only database 0.

The user and password in the URL are the data servers' (master, cluster nodes).
``options`` are redis-py's URL options (``socket_timeout=2``, ``ssl_cert_reqs=none``,
...), applied to the data connections; two more for Sentinel,
``sentinel_username`` and ``sentinel_password``, authenticate to the Sentinels.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode, ClusterPipeline
from redis.asyncio.connection import SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

__all__ = [
    "RedisClient",
    "RedisTarget",
    "is_cluster",
    "parse_redis_url",
    "redis_client",
]

RedisClient = Redis | RedisCluster

_PLAIN = {"redis", "rediss", "unix"}
_SENTINEL = {"redis+sentinel": False, "rediss+sentinel": True}
_CLUSTER = {"redis+cluster": False, "rediss+cluster": True}
SCHEMES = sorted(_PLAIN | set(_SENTINEL) | set(_CLUSTER))
_FORMS = (
    "use redis://host:port/db, rediss:// (TLS), unix:///path/to/socket, "
    "redis+sentinel://host:26379[,host:port...]/service[/db] or "
    "redis+cluster://host:port[,host:port...] (rediss+... for TLS)"
)
_SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password")
_HOST = re.compile(r"^(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<name>[^:\[\]/]+))(?::(?P<port>\d*))?$")
# How long a Sentinel may take to answer before the next one is asked.
_SENTINEL_TIMEOUT = 5.0


@dataclass(frozen=True)
class RedisTarget:
    """A parsed ``store.redis_url``."""

    kind: Literal["standalone", "sentinel", "cluster"]
    url: str
    nodes: tuple[tuple[str, int], ...] = ()  # Sentinels or cluster startup nodes
    service: str = ""  # Sentinel: the master's name
    tls: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # data-connection kwargs
    sentinel_options: dict[str, Any] = field(default_factory=dict)


def parse_redis_url(url: str) -> RedisTarget:
    """Check and split ``url``; :class:`ValueError` says what is wrong (not where)."""
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator:
        raise ValueError(f"{_safe(url)!r} is not a URL (expected scheme://...); {_FORMS}")
    if scheme in _PLAIN:
        try:
            parse_url(url)
        except ValueError as exc:
            raise ValueError(f"{exc}; {_FORMS}") from None
        return RedisTarget("standalone", url)
    if scheme not in _SENTINEL and scheme not in _CLUSTER:
        raise ValueError(f"unsupported scheme {scheme!r}; {_FORMS}")
    sentinel = scheme in _SENTINEL
    tls = _SENTINEL[scheme] if sentinel else _CLUSTER[scheme]
    location, _, query = rest.partition("?")
    location = location.split("#", 1)[0]
    netloc, _, path = location.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not at:
        userinfo = ""
    nodes = tuple(_node(part, 26379 if sentinel else 6379, scheme) for part in hosts.split(","))
    query_pairs = parse_qsl(query, keep_blank_values=True)
    sentinel_options = {k: v for k, v in query_pairs if k in _SENTINEL_OPTIONS}
    data_query = urlencode([(k, v) for k, v in query_pairs if k not in _SENTINEL_OPTIONS])
    segments = [unquote(s) for s in path.split("/")] if path else []
    while segments and segments[-1] == "":
        segments.pop()
    service = ""
    db = ""
    if sentinel:
        if not segments or not segments[0]:
            raise ValueError(f"{scheme} URL needs the master's name: {scheme}://host:26379/service")
        service = segments[0]
        if len(segments) > 2:
            raise ValueError(f"{scheme} URL path is /service[/db], not /{path}")
        db = segments[1] if len(segments) == 2 else ""
    elif segments:
        raise ValueError(f"{scheme} URL takes no path (a cluster has database 0 only), not /{path}")
    # redis-py parses the credentials and options, so they mean what they mean there.
    plain = f"redis://{userinfo}{'@' if userinfo else ''}localhost/{quote(db)}"
    try:
        options: dict[str, Any] = dict(parse_url(f"{plain}?{data_query}" if data_query else plain))
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    options.pop("host", None)
    options.pop("port", None)
    options.pop("connection_class", None)
    if db and "db" not in options:
        raise ValueError(f"{scheme} URL: database {db!r} is not a number")
    if not sentinel and options.pop("db", 0) != 0:
        raise ValueError(f"{scheme} URL: a cluster has database 0 only")
    return RedisTarget(
        "sentinel" if sentinel else "cluster",
        url,
        nodes=nodes,
        service=service,
        tls=tls,
        options=options,
        sentinel_options=sentinel_options,
    )


def _node(text: str, default_port: int, scheme: str) -> tuple[str, int]:
    match = _HOST.match(unquote(text).strip())
    if match is None:
        raise ValueError(f"{scheme} URL: {text!r} is not host[:port] (hosts are comma-separated)")
    host = match["ipv6"] or match["name"]
    port_text = match["port"]
    port = int(port_text) if port_text else default_port
    if not 0 < port < 65536:
        raise ValueError(f"{scheme} URL: port {port} of {host} is out of range")
    return host, port


def _safe(url: str) -> str:
    """``url`` without a password, for messages."""
    return re.sub(r"(://[^:@/]*:)[^@/]*@", r"\1***@", url)


def is_cluster(client: object) -> bool:
    """Whether ``client`` talks to a Redis Cluster (scripts then run one slot at a time)."""
    return isinstance(client, RedisCluster)


class _WaitingCluster(RedisCluster):
    """The cluster client, waiting like the standalone pool when it is busy.

    redis-py's cluster client fails a command at once when a node has no free
    connection (``MaxConnectionsError``). Here at most ``max_connections`` commands or
    pipelines are in flight per client (each holds at most one connection per node);
    more wait up to ``wait`` seconds for a turn.
    """

    def __init__(self, *args: Any, wait: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turns = asyncio.Semaphore(int(kwargs.get("max_connections", 100)))
        self._wait = wait
        # redis-py 8.1 learns the layout on the first command; when a burst of first
        # commands races with that, some find their connection closed under them
        # ("'NoneType' object has no attribute 'writelines'"). One at a time, first.
        self._first = asyncio.Lock()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if self._initialize:  # learn the cluster's layout before the first command
            async with self._first:
                await self.initialize()
        try:
            async with asyncio.timeout(self._wait):
                await self._turns.acquire()
        except TimeoutError:
            raise RedisConnectionError("No connection available.") from None
        try:
            yield
        finally:
            self._turns.release()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.turn():
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> Any:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # raises, as redis-py does
        return _WaitingPipeline(self, transaction)  # type: ignore[abstract]


class _WaitingPipeline(ClusterPipeline):
    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        client = self.cluster_client
        assert isinstance(client, _WaitingCluster)
        async with client.turn():
            return await super().execute(raise_on_error, allow_redirections)


class _SentinelConnection(SentinelManagedConnection):
    """A connection to whichever server Sentinel names as the master.

    redis-py 8.1's ``send_packed_command`` reconnects a dropped connection through
    ``connect_check_health``, to the address it had, bypassing the Sentinel lookup in
    ``connect``: after a failover a retried command went back to the old master's
    address. Connecting through ``connect`` first asks Sentinel again.
    """

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self.is_connected:
            await self.connect()  # type: ignore[no-untyped-call]
        await super().send_packed_command(command, check_health)


class _SentinelSSLConnection(_SentinelConnection, SSLConnection):
    pass


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """The Sentinel pool, waiting for a free connection like the standalone one."""


class _SentinelRedis(Redis):
    """The master's client; closing it also closes the connections to the Sentinels."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        pool = self.connection_pool
        try:
            await super().aclose(close_connection_pool)
        finally:
            manager = getattr(pool, "sentinel_manager", None)
            if isinstance(manager, Sentinel):
                await manager.aclose()


def redis_client(
    url: str,
    *,
    max_connections: int = 100,
    wait: float = 10.0,
    timeout: float | None = None,
) -> RedisClient:
    """A client for any URL form above; it connects on first use.

    When all ``max_connections`` are busy, a command waits up to ``wait`` seconds for
    one; the default pool would fail it at once, turning a burst into errors (on
    Redis Cluster: at most ``max_connections`` commands in flight per client, each
    using at most one connection per node). ``timeout``, when given, bounds every
    command and connection attempt, in seconds.

    Raises :class:`ValueError` for a malformed URL.
    """
    target = parse_redis_url(url)
    bounds: dict[str, Any] = {}
    if timeout is not None:
        bounds = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if target.kind == "standalone":
        # A pooled connection that broke (Redis restarted, a proxy dropped it) fails
        # its next command; that command is sent once more on a new connection, so a
        # pool of stale connections does not fail one call each after Redis is back.
        # Timeouts are not retried.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=wait,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
            **bounds,
        )
        return Redis.from_pool(pool)
    options = {**target.options, **bounds}
    if target.tls:
        options["ssl"] = True
    if target.kind == "cluster":
        nodes = [ClusterNode(host, port) for host, port in target.nodes]
        try:
            return _WaitingCluster(
                startup_nodes=nodes, max_connections=max_connections, wait=wait, **options
            )
        except TypeError as exc:
            raise ValueError(f"unsupported option for Redis Cluster: {exc}") from None
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": timeout or _SENTINEL_TIMEOUT,
        "socket_connect_timeout": timeout or _SENTINEL_TIMEOUT,
    }
    if target.tls:
        ssl_options = {k: v for k, v in options.items() if k.startswith("ssl")}
        sentinel_kwargs.update(ssl_options)
    if "sentinel_username" in target.sentinel_options:
        sentinel_kwargs["username"] = target.sentinel_options["sentinel_username"]
    if "sentinel_password" in target.sentinel_options:
        sentinel_kwargs["password"] = target.sentinel_options["sentinel_password"]
    sentinel = Sentinel(list(target.nodes), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
    # A command whose connection broke (the master went away, or was demoted: redis-py
    # turns READONLY into a broken connection) is sent once more, on a new connection
    # to whichever master Sentinel names by then. Timeouts are not retried.
    options.pop("ssl", None)
    client: Redis = sentinel.master_for(
        target.service,
        redis_class=_SentinelRedis,
        connection_pool_class=_BlockingSentinelPool,
        connection_class=_SentinelSSLConnection if target.tls else _SentinelConnection,
        max_connections=max_connections,
        timeout=wait,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[RedisConnectionError],
        **options,
    )
    return client
