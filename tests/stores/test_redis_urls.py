"""store.redis_url: the one server, Sentinel and Cluster forms, and their errors."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis, RedisCluster

from steadyllm.config import ConfigError, load_settings
from steadyllm.stores.redis_client import is_cluster, parse_redis_url, redis_client


def test_one_server_urls_are_redis_pys_own() -> None:
    for url in ("redis://h:6379/2", "rediss://:pw@h:6380/0", "unix:///run/redis.sock?db=1"):
        assert parse_redis_url(url).kind == "standalone"


def test_sentinel_url() -> None:
    target = parse_redis_url(
        "redis+sentinel://u:p%40ss@s1:26380,s2,[::1]:26381/main/3"
        "?socket_timeout=2&sentinel_password=sp"
    )
    assert target.kind == "sentinel"
    assert target.nodes == (("s1", 26380), ("s2", 26379), ("::1", 26381))
    assert target.service == "main"
    assert not target.tls
    assert target.options == {"username": "u", "password": "p@ss", "db": 3, "socket_timeout": 2.0}
    assert target.sentinel_options == {"sentinel_password": "sp"}
    assert parse_redis_url("rediss+sentinel://s1/main").tls


def test_cluster_url() -> None:
    target = parse_redis_url("redis+cluster://:pw@n1:7000,n2:7001/")
    assert target.kind == "cluster"
    assert target.nodes == (("n1", 7000), ("n2", 7001))
    assert target.options == {"password": "pw"}
    assert parse_redis_url("rediss+cluster://n1").nodes == (("n1", 6379),)
    assert parse_redis_url("rediss+cluster://n1").tls


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memcached://h:11211", "unsupported scheme 'memcached'"),
        ("localhost:6379", "is not a URL"),
        ("redis+sentinel://s1:26379", "needs the master's name"),
        ("redis+sentinel://s1:26379/main/zero", "database 'zero' is not a number"),
        ("redis+sentinel://s1/main/0/extra", "path is /service"),
        ("redis+sentinel://s1:port/main", "'s1:port' is not host"),
        ("redis+sentinel:///main", "'' is not host"),
        ("redis+cluster://n1:70000", "port 70000 of n1 is out of range"),
        ("redis+cluster://n1/2", "takes no path"),
        ("redis+cluster://n1?db=2", "database 0 only"),
        ("redis+cluster://n1?socket_timeout=soon", "Invalid value for 'socket_timeout'"),
    ],
)
def test_malformed_urls_are_config_errors_naming_the_key(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_redis_url(url)
    with pytest.raises(ConfigError, match=r"store\.redis_url: Value error, .*" + message):
        load_settings({"store": {"redis_url": url}})


def test_prefix_with_braces_is_refused() -> None:
    # The keys' Redis Cluster hash tags would be overridden by braces in the prefix.
    with pytest.raises(ConfigError, match=r"store\.redis_prefix: .*brace"):
        load_settings({"store": {"redis_prefix": "gw{1}:"}})


async def test_the_factory_builds_the_client_the_url_names() -> None:
    # Nothing connects until the first command.
    one = redis_client("redis://127.0.0.1:1/0")
    sentinel = redis_client("redis+sentinel://127.0.0.1:1/main/0")
    cluster = redis_client("redis+cluster://127.0.0.1:1")
    assert isinstance(one, Redis)
    assert isinstance(sentinel, Redis)
    assert isinstance(cluster, RedisCluster)
    assert [is_cluster(client) for client in (one, sentinel, cluster)] == [False, False, True]
    for client in (one, sentinel, cluster):
        await client.aclose()
