"""Experiments through the HTTP API and the real pipeline (in-process simulator)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from steadyllm.config import load_settings
from steadyllm.gateway import Gateway
from steadyllm.server.app import GATEWAY, create_app

PRICE = {"input_per_million": 0.5, "output_per_million": 1.5}


class FakeOutcomes:
    """The lifecycle feedback store, faked: the conversations in ``booked`` booked."""

    def __init__(self) -> None:
        self.booked: set[str] = set()
        self.asked: list[int] = []

    async def outcomes(
        self, *, request_ids: Sequence[str], conversation_ids: Sequence[str]
    ) -> Mapping[str, Mapping[str, Any]]:
        self.asked.append(len(conversation_ids))
        return {c: {"booked": True} for c in conversation_ids if c in self.booked}


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    settings = load_settings(
        {
            "store": {"url": "memory://"},
            "records": {"flush_interval": 0.01},
            "models": [
                {"name": "fast", "deployments": [{"provider": "sim", "model": "s", "price": PRICE}]}
            ],
            "variants": {
                "definitions": {
                    "baseline": {"system_prompt": "Be brief."},
                    "casual": {"system_prompt": "Be casual and warm."},
                },
                "routes": {"fast": "baseline"},
            },
        }
    )
    app = create_app(Gateway(settings))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_create_run_and_read_results(client: TestClient[Any, Any]) -> None:
    created = await client.post(
        "/api/experiments",
        json={"name": "tone", "route": "fast", "arms": ["baseline", "casual"]},
    )
    assert created.status == 201, await created.text()
    experiment = await created.json()
    gateway = client.app[GATEWAY]  # type: ignore[union-attr]
    fake = FakeOutcomes()
    gateway.variants.outcomes = fake

    for i in range(200):
        conversation = f"conv-{i}"
        for turn in range(2):  # a conversation never switches arm
            body = {
                "model": "fast",
                "messages": [{"role": "user", "content": f"turn {turn} of {i}"}],
                "metadata": {"conversation_id": conversation},
            }
            response = await client.post("/v1/chat/completions", json=body)
            assert response.status == 200
    await gateway.records.flush()
    calls = await gateway.stores.records.list_calls(limit=10_000)
    seen: dict[str, set[str | None]] = {}
    for record in calls:
        seen.setdefault(record.metadata["conversation_id"], set()).add(record.variant)
        assert record.metadata["experiment"] == experiment["id"]
    assert all(len(variants) == 1 for variants in seen.values())
    casual = {c for c, v in seen.items() if v == {"casual"}}
    assert 60 < len(casual) < 140
    fake.booked = set(list(casual)[: len(casual) // 2])  # half of casual books, no baseline

    results = await (await client.get(f"/api/experiments/{experiment['id']}/results")).json()
    by_variant = {arm["variant"]: arm for arm in results["arms"]}
    assert by_variant["baseline"]["subjects"] + by_variant["casual"]["subjects"] == 200
    assert by_variant["baseline"]["calls"] == 2 * by_variant["baseline"]["subjects"]
    assert by_variant["baseline"]["rate"] == 0.0
    assert by_variant["casual"]["rate"] == pytest.approx(0.5, abs=0.01)
    versus = by_variant["casual"]["vsControl"]
    assert versus["significant"] is True
    assert versus["sequentialPValue"] < 0.05
    assert versus["interval"][0] > 0.3
    assert results["sampleRatioMismatch"]["alarm"] is False
    assert results["chiSquared"]["pValue"] < 0.001

    listed = await (await client.get("/api/experiments")).json()
    assert [e["id"] for e in listed["experiments"]] == [experiment["id"]]


async def test_bad_experiments_are_refused(client: TestClient[Any, Any]) -> None:
    cases = [
        ({"name": "x", "route": "fast", "arms": ["baseline"]}, "arms"),
        ({"name": "x", "route": "fast", "arms": ["baseline", "nope"]}, "arms"),
        ({"name": "x", "route": "nope", "arms": ["baseline", "casual"]}, "route"),
        ({"name": "x", "route": "fast", "arms": ["baseline", "casual"], "alpha": 2}, "alpha"),
    ]
    for body, param in cases:
        response = await client.post("/api/experiments", json=body)
        assert response.status == 400
        assert (await response.json())["error"]["param"] == param
    missing = await client.get("/api/experiments/exp_nope/results")
    assert missing.status == 404


async def test_results_read_outcomes_from_the_feedback_api(client: TestClient[Any, Any]) -> None:
    """The real wiring: outcomes posted to the lifecycle's ``POST /api/feedback``."""
    created = await client.post(
        "/api/experiments", json={"name": "t", "route": "fast", "arms": ["baseline", "casual"]}
    )
    experiment = await created.json()
    variant_of: dict[str, str] = {}
    for i in range(40):
        body = {
            "model": "fast",
            "messages": [{"role": "user", "content": f"hello {i}"}],
            "metadata": {"conversation_id": f"c{i}"},
        }
        response = await client.post("/v1/chat/completions", json=body)
        assert response.status == 200
    gateway = client.app[GATEWAY]  # type: ignore[union-attr]
    await gateway.records.flush()
    for record in await gateway.stores.records.list_calls(limit=1000):
        variant_of[record.metadata["conversation_id"]] = str(record.variant)
    for conversation, variant in variant_of.items():
        if variant == "casual":
            posted = await client.post(
                "/api/feedback", json={"conversationId": conversation, "booked": True}
            )
            assert posted.status == 201, await posted.text()
    results = await (await client.get(f"/api/experiments/{experiment['id']}/results")).json()
    by_variant = {arm["variant"]: arm for arm in results["arms"]}
    assert by_variant["casual"]["subjects"] > 0
    assert by_variant["casual"]["rate"] == 1.0
    assert by_variant["baseline"]["rate"] == 0.0
