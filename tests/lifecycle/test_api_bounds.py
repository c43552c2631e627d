"""Lifecycle API numbers out of range are 400s, on PostgreSQL too.

Regression (found by the schemathesis fuzz run on PostgreSQL): a version of
18002817500 reached an INTEGER column and asyncpg raised OverflowError (a 500);
a negative ``limit`` reached SQL's LIMIT (a 500).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from steadyllm.config import load_settings
from steadyllm.gateway import Gateway
from steadyllm.server.app import create_app

V = "/api/lifecycle/versions"
BIG = 18_002_817_500


@pytest.fixture
async def client(postgres_url: str) -> AsyncIterator[TestClient[Any, Any]]:
    settings = load_settings(
        {
            "store": {"url": postgres_url},
            "models": [{"name": "fast", "deployments": [{"provider": "sim", "model": "s"}]}],
        }
    )
    async with TestClient(TestServer(create_app(Gateway(settings)))) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("method", "path", "body", "param"),
    [
        ("POST", f"{V}/activate", {"variant": "b", "version": BIG}, "version"),
        ("POST", f"{V}/activate", {"variant": "b", "version": -1}, "version"),
        ("POST", f"{V}/activate", {"variant": "b", "version": 1.5}, "version"),
        ("POST", f"{V}/tag", {"variant": "b", "version": BIG, "tag": "t"}, "version"),
        ("GET", f"{V}/diff?variant=b&from=1&to={BIG}", None, "to"),
        ("GET", f"{V}/compare?variant=b&versions=1,{BIG}", None, "versions"),
        ("GET", "/api/lifecycle/drift/history?limit=-5", None, "limit"),
        ("GET", f"/api/lifecycle/retraining/history?limit={BIG}", None, "limit"),
        ("POST", "/api/feedback", {"requestId": "r", "version": BIG}, "version"),
        ("POST", "/api/feedback", {"requestId": "r", "tokens": -BIG}, "tokens"),
    ],
)
async def test_out_of_range_numbers_are_refused(
    client: TestClient[Any, Any], method: str, path: str, body: Any, param: str
) -> None:
    response = await client.request(method, path, json=body)
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["param"] == param


async def test_in_range_numbers_still_work(client: TestClient[Any, Any]) -> None:
    registered = await client.post(
        f"{V}/register", json={"variant": "b", "systemPrompt": "Be brief."}
    )
    assert registered.status == 201, await registered.text()
    activated = await client.post(f"{V}/activate", json={"variant": "b", "version": 1})
    assert activated.status == 200, await activated.text()
    history = await client.get("/api/lifecycle/drift/history?limit=1000")
    assert history.status == 200
