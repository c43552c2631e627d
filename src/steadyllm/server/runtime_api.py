"""``GET /api/reliability/runtime``: what this process holds in memory, and its bounds.

The soak test (``benchmarks/soak.py``) reads it every few seconds: resident memory,
the number of asyncio tasks, and the size of every in-memory structure that grows
with traffic (buffers, queues, caches, per-key maps, connection pools), each with
the bound that keeps it from growing without end. A structure whose bound comes
from the config (one entry per deployment, per model) reports that count; one that
is bounded by time instead (counters that expire) reports ``bound: null`` and says
so in ``boundedBy``.

Sizes are read from the components' own fields, in memory, without locks or I/O:
cheap enough to poll, never on the request path. A component whose field cannot
be read (renamed, not started) reports ``size: null`` with an ``error`` rather than
failing the whole answer; ``tests/resilience/test_runtime_sizes.py`` checks that
every probe reads on a started gateway.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator, Sized
from dataclasses import dataclass
from typing import Any

import orjson
import psutil
from aiohttp import web

from steadyllm.gateway import Gateway

__all__ = ["RuntimeApi", "Structure", "runtime_report", "structures"]

SizeFn = Callable[[], int]


@dataclass(frozen=True, slots=True)
class Structure:
    """One structure's probe: ``size()`` now, its ``bound`` (``None``: bounded by time
    or by the config's own lists), and what bounds it, in words."""

    name: str
    size: SizeFn
    bound: int | None
    bounded_by: str


def _field(owner: object, name: str) -> Any:
    """A component's own field, private ones included (read-only, for sizes)."""
    return getattr(owner, name)


def _len(owner: object, attr: str) -> SizeFn:
    def size() -> int:
        value = getattr(owner, attr)
        if isinstance(value, asyncio.Queue):
            return value.qsize()
        assert isinstance(value, Sized), f"{attr} has no size"
        return len(value)

    return size


def _module_constant(module: str, name: str) -> int:
    import importlib

    value = getattr(importlib.import_module(module), name)
    assert isinstance(value, int)
    return value


def _connector_size(provider: object) -> SizeFn:
    """Open connections of one provider's pools: idle kept-alive ones plus those in use."""

    def size() -> int:
        http = _field(provider, "_http")
        if hasattr(http, "open_connections"):
            return int(http.open_connections)
        session = _field(http, "_session")
        if session is None or session.closed:
            return 0
        connector = session.connector
        idle = sum(len(conns) for conns in _field(connector, "_conns").values())
        return idle + len(_field(connector, "_acquired"))

    return size


def _stages(gateway: Gateway, kind: str) -> list[object]:
    return [s for s in gateway.telemetry.sources if type(s).__name__ == kind]


def _cache(gateway: Gateway) -> Iterator[Structure]:
    cache = gateway.cache
    settings = gateway.settings.cache
    runtime = "steadyllm.cache.runtime"
    yield Structure("cache.l1", _len(cache, "_l1"), settings.l1_max_entries, "cache.l1_max_entries")
    yield Structure(
        "cache.stats_entries",
        _len(cache.stats, "entries"),
        settings.stats_max_entries,
        "cache.stats_max_entries",
    )
    yield Structure(
        "cache.write_queue", _len(cache, "_writes"), settings.write_queue, "cache.write_queue"
    )
    yield Structure(
        "cache.unpriced_writes",
        _len(cache, "_unpriced"),
        settings.write_queue,
        "entries of the write queue",
    )
    yield Structure(
        "cache.pending_touches",
        _len(cache, "_touches"),
        _module_constant(runtime, "_MAX_PENDING_TOUCHES"),
        "hit reports between flushes",
    )
    yield Structure(
        "cache.loaded_scopes",
        _len(cache, "_loaded"),
        _module_constant(runtime, "_MAX_LOADED_SCOPES"),
        "LRU of scopes read from L2",
    )
    yield Structure(
        "cache.pending_loads",
        _len(cache, "_loads"),
        _module_constant(runtime, "_MAX_PENDING_LOADS"),
        "scopes waiting to be read",
    )
    index = cache.index
    if index is not None:
        semantic = settings.semantic.max_entries
        yield Structure(
            "cache.semantic_index", _len(index, "_entries"), semantic, "cache.semantic.max_entries"
        )
        yield Structure(
            "cache.semantic_scopes",
            _len(index, "_scopes"),
            semantic,
            "one scope per indexed entry at most",
        )
    if cache.matcher is not None:
        yield Structure(
            "cache.embedding_cache",
            _len(cache.matcher, "cache"),
            settings.semantic.embedding_cache_max_entries,
            "cache.semantic.embedding_cache_max_entries",
        )


def _resilience(gateway: Gateway) -> Iterator[Structure]:
    resilience = gateway.resilience
    deployments = len(gateway.router.deployments())
    registry = resilience.registry
    yield Structure(
        "resilience.breakers",
        _len(registry, "_breakers"),
        _field(registry, "_max"),
        "one per deployment named",
    )
    states = getattr(registry, "_store", None)
    if states is not None and hasattr(states, "_states"):
        yield Structure(
            "resilience.breaker_states",
            _len(states, "_states"),
            _field(states, "_max_entries"),
            "one per deployment named",
        )
    yield Structure(
        "resilience.cooldowns",
        _len(resilience, "_cooldowns"),
        _module_constant("steadyllm.resilience.runtime", "_MAX_COOLDOWNS"),
        "deployments answering 429",
    )
    yield Structure(
        "resilience.latency", _len(resilience.load, "_loads"), deployments, "one per deployment"
    )
    budget = resilience.budget
    if hasattr(budget, "_first"):
        yield Structure(
            "resilience.retry_budget",
            _len(budget, "_first"),
            _field(budget, "_max"),
            "one per deployment",
        )


def _access(gateway: Gateway) -> Iterator[Structure]:
    access = gateway.access
    local = _field(access.limiter, "_local")
    yield Structure(
        "limits.counters",
        _len(local, "_values"),
        None,
        "time: a window's counter expires after two windows",
    )
    yield Structure(
        "limits.leases",
        _len(local, "_leases"),
        None,
        "in-flight calls: a lease is released when its call ends or expires",
    )
    yield Structure(
        "limits.refusals", _len(access.limiter, "refusals"), None, "limit names x scopes (config)"
    )
    for stage in _stages(gateway, "LimitStage"):
        yield Structure(
            "limits.resolved_keys",
            _len(stage, "_resolved"),
            _module_constant("steadyllm.stages.limit", "_RESOLVED_KEYS"),
            "LRU of keys' resolved limits",
        )
    keyring = access.keyring
    yield Structure(
        "keys.cache",
        _len(keyring, "_cache"),
        _field(keyring, "_max_entries"),
        "LRU of resolved keys",
    )
    yield Structure("keys.loading", _len(keyring, "_loading"), None, "key lookups in flight")
    alerts = access.alerts
    yield Structure(
        "alerts.queue",
        _len(alerts, "_queue"),
        access.settings.alerts.queue_size,
        "access.alerts.queue_size",
    )
    yield Structure(
        "alerts.seen",
        _len(alerts, "_seen"),
        _module_constant("steadyllm.alerts.budget", "_LOCAL_DEDUP"),
        "LRU of alert keys",
    )


def _safety(gateway: Gateway) -> Iterator[Structure]:
    safety = gateway.safety
    service = "steadyllm.safety.service"
    yield Structure(
        "safety.log_queue",
        _len(safety.log, "_events"),
        gateway.settings.safety.log.max_queue,
        "safety.log.max_queue",
    )
    yield Structure(
        "safety.log_checks", _len(safety.log, "_checks"), None, "check types x hours between writes"
    )
    yield Structure(
        "safety.verdicts",
        _len(safety, "_verdicts"),
        _module_constant(service, "_VERDICTS"),
        "LRU of input scans",
    )
    yield Structure(
        "safety.fingerprints",
        _len(safety, "_fingerprints"),
        _module_constant(service, "_FINGERPRINTS"),
        "LRU of system prompts",
    )
    store = safety.log.store
    if hasattr(store, "_events") and hasattr(store, "_max_events"):  # the memory store
        yield Structure(
            "safety.store_events",
            _len(store, "_events"),
            _field(store, "_max_events"),
            "newest events kept",
        )
        yield Structure(
            "safety.store_hours",
            lambda: int(_field(store, "hours_held")),
            getattr(store, "max_hours", None),
            "hours of check counts kept apart (older ones folded)",
        )


def _variants(gateway: Gateway) -> Iterator[Structure]:
    shadow = gateway.shadow
    yield Structure(
        "shadow.queue", _len(shadow, "_queue"), shadow.settings.queue_size, "shadow queue_size"
    )
    for name, store in (
        ("shadow.comparisons", shadow.store),
        ("shadow.history", shadow.history_store),
    ):
        items = getattr(store, "_items", None)
        if items is not None:
            yield Structure(name, _len(store, "_items"), items.maxlen, "newest kept")
    yield Structure(
        "experiments.running",
        _len(gateway.variants.experiments, "running"),
        None,
        "one per route (config)",
    )


def _telemetry(gateway: Gateway) -> Iterator[Structure]:
    telemetry = gateway.telemetry
    metrics, stats = telemetry.metrics, telemetry.stats
    max_variants = gateway.settings.telemetry.metrics.max_variants
    models = len(gateway.settings.models)
    series_bound = (models + 1) * (len(gateway.router.deployments()) + 1) * (max_variants + 2)
    yield Structure(
        "telemetry.series",
        _len(metrics, "_series"),
        series_bound,
        "models x deployments x variants (config)",
    )
    yield Structure(
        "telemetry.variants",
        _len(metrics, "_variants"),
        max_variants,
        "telemetry.metrics.max_variants",
    )
    labels = models + 1  # the configured models, and "unknown"

    def buckets() -> int:
        return sum(len(b) for b in _field(stats, "_models").values())

    yield Structure("telemetry.window_models", _len(stats, "_models"), labels, "models (config)")
    yield Structure(
        "telemetry.window_buckets",
        buckets,
        labels * _field(stats, "_keep"),
        "models x 10 s buckets of the 2 h retention",
    )
    yield Structure(
        "telemetry.slo_active", _len(telemetry.slo, "_active"), None, "objectives x models (config)"
    )
    yield Structure(
        "telemetry.slo_history",
        _len(telemetry.slo, "history"),
        telemetry.slo.history.maxlen,
        "telemetry.slo.history",
    )
    yield Structure(
        "telemetry.alerts_current",
        _len(telemetry.alerts, "_current"),
        None,
        "rules x labels (config)",
    )
    yield Structure(
        "telemetry.alerts_history",
        _len(telemetry.alerts, "history"),
        telemetry.alerts.history.maxlen,
        "newest kept",
    )
    yield Structure("telemetry.in_flight", lambda: telemetry.in_flight, None, "calls being handled")


def _records(gateway: Gateway) -> Iterator[Structure]:
    writer = gateway.records
    yield Structure(
        "records.buffer",
        lambda: int(getattr(writer, "buffered", writer.pending)),  # in memory, not spooled
        gateway.settings.records.max_buffer,
        "records.max_buffer",
    )
    stores = gateway.stores
    if hasattr(stores.records, "max_records"):  # the memory store
        yield Structure(
            "stores.memory_records",
            _len(stores.records, "_records"),
            _field(stores.records, "max_records"),
            "newest records kept",
        )
    if hasattr(stores.cache, "_entries"):
        yield Structure(
            "stores.memory_cache",
            _len(stores.cache, "_entries"),
            _field(stores.cache, "_max_entries"),
            "LRU eviction",
        )
    if hasattr(stores.counters, "_values"):
        yield Structure(
            "stores.memory_counters",
            _len(stores.counters, "_values"),
            None,
            "time: counters expire",
        )


def _upstreams(gateway: Gateway) -> Iterator[Structure]:
    for deployment in gateway.router.deployments():
        provider = deployment.provider
        if hasattr(provider, "_http"):
            http = _field(provider, "_http")
            pools = 2 if hasattr(http, "_wire") else 1  # whole answers, and streams
            yield Structure(
                f"upstream.connections.{deployment.name}",
                _connector_size(provider),
                _field(http, "_settings").max_connections * pools,
                "deployment max_connections, per pool",
            )


def structures(gateway: Gateway) -> list[Structure]:
    """Every probe of a started gateway."""
    found: list[Structure] = []
    for part in (
        _records,
        _cache,
        _resilience,
        _access,
        _safety,
        _variants,
        _telemetry,
        _upstreams,
    ):
        found.extend(part(gateway))
    return found


def _tasks() -> int:
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:  # no running loop (called from a thread)
        return 0


def runtime_report(gateway: Gateway, *, http_in_flight: int | None = None) -> dict[str, Any]:
    """The process's figures and every structure's size and bound."""
    process = psutil.Process(os.getpid())
    sizes: dict[str, dict[str, Any]] = {}
    over: list[str] = []
    for probe in structures(gateway):
        entry: dict[str, Any] = {"bound": probe.bound, "boundedBy": probe.bounded_by}
        try:
            entry["size"] = probe.size()
        except Exception as exc:  # a field renamed or a part stopped: say so, keep the rest
            entry["size"] = None
            entry["error"] = f"{type(exc).__name__}: {exc}"
        if probe.bound is not None and entry["size"] is not None and entry["size"] > probe.bound:
            over.append(probe.name)
        sizes[probe.name] = entry
    if http_in_flight is not None:
        sizes["http.in_flight"] = {
            "size": http_in_flight,
            "bound": None,
            "boundedBy": "requests being served",
        }
    return {
        "pid": process.pid,
        "rssBytes": process.memory_info().rss,
        "tasks": _tasks(),
        "threads": threading.active_count(),
        "openFiles": process.num_fds() if hasattr(process, "num_fds") else None,
        "structures": sizes,
        "overBound": over,
    }


class RuntimeApi:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/reliability/runtime", self.runtime)]

    async def runtime(self, request: web.Request) -> web.Response:
        """Resident memory, asyncio tasks and every in-memory structure's size and bound."""
        from steadyllm.server.app import INFLIGHT  # app imports this module

        inflight = request.app.get(INFLIGHT)
        count = inflight.count - 1 if inflight is not None else None  # less this request
        body = runtime_report(self.gateway, http_in_flight=count)
        return web.Response(body=orjson.dumps(body), content_type="application/json")
