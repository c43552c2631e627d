"""The store backends of ``tests/stores``, for the cache's L2 tests."""

from tests.stores.conftest import (  # noqa: F401 - fixtures, found by name
    cache_store,
    postgres_session_database,
    postgres_url,
    redis_available,
    redis_cluster_topology,
    redis_prefix,
    redis_sentinel_topology,
)
