"""What a call costs: the price of each deployment, decided once at startup.

A deployment's price comes from, in order:

1. its ``price`` in the config (an override always wins);
2. the ``genai-prices`` catalog (pydantic's maintained price table, shipped inside
   the package and read offline), matched by the provider and its API base;
3. nothing: its calls are recorded with no cost, counted in ``unpriced_calls`` and
   logged once per deployment. Never a silent $0.

This module is the only one that imports ``genai_prices``, and only when a deployment
has no config price, so a config that prices everything never loads the catalog.
Catalog prices are taken at the base tier (the price of a short prompt); models with
long-context tiers are priced at their base rate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from steadyllm.call import Deployment, Price, Usage

__all__ = ["CatalogLookup", "PriceBook", "PricedDeployment", "catalog_price"]

log = logging.getLogger("steadyllm.pricing")

PriceSource = Literal["config", "catalog", "unknown"]
CatalogLookup = Callable[[str, str, str | None], Price | None]  # provider, model, api_base

# steadyllm provider kind -> the catalog's provider id, when no api_base says otherwise.
_CATALOG_PROVIDERS = {"openai": "openai", "anthropic": "anthropic"}
_PROBE_TOKENS = 1000  # small enough to stay in every model's base price tier


def catalog_price(provider: str, model: str, api_base: str | None) -> Price | None:
    """The catalog's price for ``model`` served by ``provider`` at ``api_base``."""
    provider_id = _CATALOG_PROVIDERS.get(provider)
    if provider_id is None:
        return None  # the simulator, local servers: only a config price applies
    from genai_prices import Usage as CatalogUsage
    from genai_prices import calc_price

    def per_million(input_tokens: int, output_tokens: int) -> float:
        usage = CatalogUsage(input_tokens=input_tokens, output_tokens=output_tokens)
        if api_base:
            result = calc_price(usage, model, provider_api_url=api_base)
        else:
            result = calc_price(usage, model, provider_id=provider_id)
        return float(result.total_price) * 1_000_000 / _PROBE_TOKENS

    try:
        return Price(per_million(_PROBE_TOKENS, 0), per_million(0, _PROBE_TOKENS))
    except LookupError:
        return None


@dataclass(frozen=True, slots=True)
class PricedDeployment:
    """One deployment's settings as far as pricing needs them."""

    name: str
    model_group: str
    provider: str
    upstream_model: str
    api_base: str | None
    config_price: Price | None


class PriceBook:
    """Prices of every deployment, and the costs of calls priced with them."""

    def __init__(
        self,
        deployments: Iterable[PricedDeployment],
        *,
        fallbacks: Mapping[str, Iterable[str]] | None = None,
        catalog: CatalogLookup | None = catalog_price,
    ) -> None:
        self._prices: dict[str, Price | None] = {}
        self.sources: dict[str, PriceSource] = {}
        groups: dict[str, list[str]] = {}
        for d in deployments:
            price = d.config_price
            source: PriceSource = "config"
            if price is None and catalog is not None:
                price, source = catalog(d.provider, d.upstream_model, d.api_base), "catalog"
            if price is None:
                source = "unknown"
                log.warning(
                    "no price for deployment %s (%s:%s): its calls are recorded without "
                    "cost and counted as unpriced; set models[].deployments[].price",
                    d.name,
                    d.provider,
                    d.upstream_model,
                )
            self._prices[d.name] = price
            self.sources[d.name] = source
            groups.setdefault(d.model_group, []).append(d.name)
        self._ceilings = {group: _ceiling(group, groups, fallbacks or {}) for group in groups}
        self._ceiling_prices = {
            group: self._highest(names) for group, names in self._ceilings.items()
        }
        self.unpriced_calls = 0
        self.unpriced_by_deployment: dict[str, int] = {}  # bounded by the deployments

    def _highest(self, names: Iterable[str]) -> Price | None:
        prices = [p for p in (self._prices.get(n) for n in names) if p is not None]
        if not prices:
            return None
        return Price(
            max(p.input_per_million for p in prices), max(p.output_per_million for p in prices)
        )

    def price(self, deployment: str) -> Price | None:
        return self._prices.get(deployment)

    def ceiling(self, model_group: str) -> Price | None:
        """The highest price a call to ``model_group`` may be served at (its fallbacks
        included): what a reservation estimates with."""
        return self._ceiling_prices.get(model_group)

    def quote(self, deployment: Deployment | None, usage: Usage) -> float | None:
        """The cost of ``usage`` on ``deployment``; ``None`` if it has no price."""
        if deployment is None:
            return None
        price = self._prices.get(deployment.name, deployment.price)
        if price is None:
            return None
        return price.cost(usage.input_tokens, usage.output_tokens)

    def charge(self, deployment: Deployment | None, usage: Usage) -> float | None:
        """``quote``, counting a call that used tokens without a known price."""
        cost = self.quote(deployment, usage)
        if cost is None and deployment is not None:
            self.unpriced_calls += 1
            counts = self.unpriced_by_deployment
            counts[deployment.name] = counts.get(deployment.name, 0) + 1
        return cost


def _ceiling(
    group: str, groups: Mapping[str, list[str]], fallbacks: Mapping[str, Iterable[str]]
) -> list[str]:
    """Every deployment a call to ``group`` may reach: its own, then its fallbacks'."""
    names: list[str] = []
    seen = {group}
    queue = [group]
    while queue:
        current = queue.pop(0)
        names.extend(groups.get(current, ()))
        for fallback in fallbacks.get(current, ()):
            if fallback not in seen:
                seen.add(fallback)
                queue.append(fallback)
    return names
