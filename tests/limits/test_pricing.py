"""Prices: config overrides the catalog; an unknown price is counted, never $0."""

from __future__ import annotations

import pytest
from genai_prices import Usage as CatalogUsage
from genai_prices import calc_price

from steadyllm.call import Deployment, Price, Usage
from steadyllm.policy.pricing import PriceBook, PricedDeployment, catalog_price


def priced(
    name: str,
    group: str,
    provider: str,
    model: str,
    price: Price | None = None,
    api_base: str | None = None,
) -> PricedDeployment:
    return PricedDeployment(name, group, provider, model, api_base, price)


def deployment(name: str) -> Deployment:
    return Deployment(name=name, model_group="g", upstream_model="m", provider=None, price=None)  # type: ignore[arg-type]


def test_the_catalog_prices_a_known_model_offline() -> None:
    price = catalog_price("openai", "gpt-4o-mini", None)
    assert price is not None
    usage = CatalogUsage(input_tokens=1234, output_tokens=567)
    expected = float(calc_price(usage, "gpt-4o-mini", provider_id="openai").total_price)
    assert price.cost(1234, 567) == pytest.approx(expected, rel=1e-9)


def test_the_catalog_knows_anthropic_and_not_the_simulator() -> None:
    assert catalog_price("anthropic", "claude-3-5-sonnet-20241022", None) == Price(3.0, 15.0)
    assert catalog_price("sim", "gpt-4o-mini", None) is None
    assert catalog_price("openai", "no-such-model-anywhere", None) is None


def test_config_price_wins_over_the_catalog() -> None:
    book = PriceBook([priced("a", "g", "openai", "gpt-4o-mini", Price(1.0, 2.0))])
    assert book.price("a") == Price(1.0, 2.0)
    assert book.sources["a"] == "config"


def test_each_calls_cost_is_tokens_times_price() -> None:
    book = PriceBook([priced("a", "g", "sim", "x", Price(0.5, 1.5))])
    cost = book.charge(deployment("a"), Usage(input_tokens=1000, output_tokens=3000))
    assert cost == pytest.approx((1000 * 0.5 + 3000 * 1.5) / 1e6)
    assert book.unpriced_calls == 0


def test_an_unknown_price_is_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="steadyllm.pricing"):
        book = PriceBook([priced("local", "g", "openai", "my-finetune-xyz")])
    assert "no price for deployment local" in caplog.text
    assert book.sources["local"] == "unknown"
    usage = Usage(input_tokens=10, output_tokens=5)
    assert book.quote(deployment("local"), usage) is None  # quoting counts nothing
    assert book.unpriced_calls == 0
    assert book.charge(deployment("local"), usage) is None  # never $0
    assert book.charge(deployment("local"), usage) is None
    assert (book.unpriced_calls, book.unpriced_by_deployment) == (2, {"local": 2})


def test_the_ceiling_covers_the_fallbacks() -> None:
    book = PriceBook(
        [
            priced("cheap", "fast", "sim", "a", Price(0.1, 0.2)),
            priced("dear", "smart", "sim", "b", Price(1.0, 0.1)),
            priced("none", "smart", "sim", "c"),
        ],
        fallbacks={"fast": ["smart"]},
        catalog=None,
    )
    assert book.ceiling("fast") == Price(1.0, 0.2)
    assert book.ceiling("smart") == Price(1.0, 0.1)
    assert book.ceiling("unknown") is None
