"""Keys, limits, prices, usage and budget alerts of one gateway, opened together.

``Access.open`` builds them from the settings and the gateway's stores: keys and
usage in the record database (SQL), or in memory for ``memory://``; limit counters in
Redis when ``store.redis_url`` is set (shared by every replica), else in memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from steadyllm.alerts.budget import BudgetAlerts
from steadyllm.call import Price
from steadyllm.config import Settings
from steadyllm.keys.admin import KeyAdmin
from steadyllm.keys.keyring import KeyRing
from steadyllm.keys.settings import AccessSettings
from steadyllm.keys.store import KeyStore, MemoryKeyStore, SqlKeyStore
from steadyllm.limits.limiter import Limiter
from steadyllm.limits.store import LimitStore
from steadyllm.policy.pricing import PriceBook, PricedDeployment, catalog_price
from steadyllm.routing import Router
from steadyllm.stores import Stores
from steadyllm.usage.store import RecordsUsageStore, SqlUsageStore, UsageStore

__all__ = ["Access", "price_book"]

log = logging.getLogger("steadyllm.limits")


def price_book(settings: Settings, router: Router) -> PriceBook:
    """Every deployment's price: config first, then the catalog (``policy.pricing``)."""
    deployments = []
    for model in settings.models:
        route = router.routes[model.name]
        for ds, deployment in zip(model.deployments, route.deployments, strict=True):
            price = (
                Price(ds.price.input_per_million, ds.price.output_per_million)
                if ds.price is not None
                else None
            )
            deployments.append(
                PricedDeployment(
                    name=deployment.name,
                    model_group=model.name,
                    provider=ds.provider,
                    upstream_model=ds.model,
                    api_base=ds.api_base,
                    config_price=price,
                )
            )
    catalog = catalog_price if settings.access.price_catalog else None
    fallbacks = {m.name: m.fallbacks for m in settings.models}
    return PriceBook(deployments, fallbacks=fallbacks, catalog=catalog)


async def _limit_store(settings: Settings) -> LimitStore | None:
    url = settings.store.redis_url
    if url is None:
        if settings.server.workers > 1:
            log.warning(
                "server.workers is %d but store.redis_url is not set: each worker process "
                "counts limits and budgets on its own, so they allow up to %d times as much",
                settings.server.workers,
                settings.server.workers,
            )
        return None
    from steadyllm.limits.redis_store import RedisLimitStore, limit_client

    client = limit_client(url, timeout=settings.access.counter_timeout)
    try:
        await client.ping()  # fail at startup, not on the first request
    except BaseException:
        await client.aclose()
        raise
    return RedisLimitStore(client, prefix=settings.store.redis_prefix)


@dataclass
class Access:
    settings: AccessSettings
    keys: KeyStore
    keyring: KeyRing
    admin: KeyAdmin
    pricing: PriceBook
    limiter: Limiter
    usage: UsageStore
    alerts: BudgetAlerts

    @classmethod
    async def open(cls, settings: Settings, stores: Stores, router: Router) -> Access:
        access = settings.access
        keys: KeyStore
        usage: UsageStore
        if stores.database is not None:
            keys, usage = SqlKeyStore(stores.database), SqlUsageStore(stores.database)
        else:
            keys, usage = MemoryKeyStore(), RecordsUsageStore(stores.records)
        keyring = KeyRing(keys, ttl=access.key_cache_seconds)
        alerts = BudgetAlerts(access.alerts, stores.counters)
        limiter = Limiter(access, await _limit_store(settings), alerts=alerts)
        admin = KeyAdmin(keys, access, models=list(router.routes), keyring=keyring)
        alerts.start()
        return cls(
            settings=access,
            keys=keys,
            keyring=keyring,
            admin=admin,
            pricing=price_book(settings, router),
            limiter=limiter,
            usage=usage,
            alerts=alerts,
        )

    def status(self) -> dict[str, Any]:
        """For health checks and metrics: limiter state, unpriced calls, alerts."""
        return {
            "require_keys": self.settings.require_keys,
            "limits": self.limiter.status(),
            "pricing": {
                "unpriced_calls": self.pricing.unpriced_calls,
                "unpriced_by_deployment": dict(self.pricing.unpriced_by_deployment),
                "sources": dict(self.pricing.sources),
            },
            "alerts": self.alerts.status(),
        }

    async def close(self) -> None:
        await self.alerts.stop()
        await self.limiter.close()
        await self.keys.close()
