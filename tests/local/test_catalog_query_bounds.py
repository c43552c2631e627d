"""Catalog query numbers out of range are 400s.

Regression (found by the schemathesis fuzz run on PostgreSQL, any store would do):
``/api/catalog/recommend?context=4800979826845333233195810816`` was echoed back in the
answer and ``orjson.dumps`` refused an integer past 64 bits — a 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from steadyllm.config import load_settings
from steadyllm.gateway import Gateway
from steadyllm.server.app import create_app

HUGE = "4800979826845333233195810816"


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    settings = load_settings(
        {
            "store": {"url": "memory://"},
            "models": [{"name": "fast", "deployments": [{"provider": "sim", "model": "s"}]}],
        }
    )
    async with TestClient(TestServer(create_app(Gateway(settings)))) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("query", "param"),
    [
        (f"context={HUGE}", "context"),
        ("min_tokens_per_second=inf", "min_tokens_per_second"),
        ("min_quality_score=nan", "min_quality_score"),
        ("min_tokens_per_second=1e400", "min_tokens_per_second"),
    ],
)
async def test_out_of_range_numbers_are_refused(
    client: TestClient[Any, Any], query: str, param: str
) -> None:
    for path in ("/api/catalog/recommend", "/api/catalog/some-model"):
        if param != "context" and path != "/api/catalog/recommend":
            continue
        response = await client.get(f"{path}?{query}")
        assert response.status == 400, await response.text()
        assert (await response.json())["error"]["param"] == param


async def test_in_range_numbers_still_work(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/catalog/recommend?context=8192&min_tokens_per_second=5")
    assert response.status == 200, await response.text()
