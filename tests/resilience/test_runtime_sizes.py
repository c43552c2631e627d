"""``GET /api/reliability/runtime``: every probe reads on a started gateway, within bounds."""

from __future__ import annotations

import httpx

from steadyllm.server.runtime_api import structures
from tests.gateway_thread import GatewayThread

CONFIG = {
    "store": {"url": "memory://"},
    "records": {"flush_interval": 0.05},
    "cache": {"max_entries": 5, "l1_max_entries": 3, "semantic": {"max_entries": 4}},
}
EXPECTED = {
    "records.buffer",
    "cache.l1",
    "cache.semantic_index",
    "cache.write_queue",
    "safety.log_queue",
    "safety.store_hours",
    "resilience.breakers",
    "limits.leases",
    "keys.cache",
    "shadow.queue",
    "telemetry.series",
    "stores.memory_records",
    "http.in_flight",
}


def chat(text: str) -> dict[str, object]:
    return {"model": "fast", "temperature": 0, "messages": [{"role": "user", "content": text}]}


def test_runtime_reports_every_structure_with_its_bound() -> None:
    with GatewayThread(CONFIG) as gateway, httpx.Client(base_url=gateway.url, timeout=10) as client:
        for n in range(12):  # more distinct prompts than the cache holds: it evicts
            answer = client.post("/v1/chat/completions", json=chat(f"question {n}"))
            assert answer.status_code == 200
        body = client.get("/api/reliability/runtime").json()
    sizes = body["structures"]
    assert set(sizes) >= EXPECTED
    assert {name: s["error"] for name, s in sizes.items() if "error" in s} == {}
    assert all(isinstance(s["size"], int) for s in sizes.values())
    assert body["overBound"] == []
    for name, entry in sizes.items():
        if entry["bound"] is not None:
            assert entry["size"] <= entry["bound"], name
    assert sizes["cache.l1"] == {"size": 3, "bound": 3, "boundedBy": "cache.l1_max_entries"}
    assert sizes["cache.semantic_index"]["size"] == 4  # full, and no further
    assert sizes["stores.memory_records"]["bound"] == 100_000
    assert sizes["http.in_flight"]["size"] == 0  # this request is not counted
    assert body["rssBytes"] > 10 * 2**20
    assert body["tasks"] > 0


def test_runtime_needs_the_admin_key_when_one_is_set() -> None:
    config = {**CONFIG, "server": {"admin_key": "admin-secret"}}
    with GatewayThread(config) as gateway:
        refused = httpx.get(f"{gateway.url}/api/reliability/runtime")
        allowed = httpx.get(
            f"{gateway.url}/api/reliability/runtime",
            headers={"authorization": "Bearer admin-secret"},
        )
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "admin_key_required"
    assert allowed.status_code == 200


async def test_probe_names_are_unique() -> None:
    from steadyllm.gateway import Gateway

    async with Gateway.from_config({"store": {"url": "memory://"}}) as gateway:
        names = [probe.name for probe in structures(gateway)]
        assert len(names) == len(set(names))
        for probe in structures(gateway):
            assert probe.size() >= 0, probe.name
