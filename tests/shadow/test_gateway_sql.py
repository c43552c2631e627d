"""The gateway wires the SQL stores when ``store.url`` is SQL: comparisons survive it."""

from __future__ import annotations

from pathlib import Path

from steadyllm.gateway import Gateway
from steadyllm.shadow.store import SqlComparisonStore

PRICE = {"input_per_million": 1.0, "output_per_million": 2.0}


async def test_shadow_comparisons_and_records_in_sqlite(tmp_path: Path) -> None:
    config = {
        "store": {"url": f"sqlite:///{tmp_path / 'gw.db'}"},
        "records": {"flush_interval": 0.01},
        "cache": {"enabled": False},
        "models": [
            {"name": "fast", "deployments": [{"provider": "sim", "model": "a", "price": PRICE}]},
            {"name": "other", "deployments": [{"provider": "sim", "model": "b", "price": PRICE}]},
        ],
        "variants": {
            "definitions": {
                "baseline": {"system_prompt": "One."},
                "candidate": {"system_prompt": "Two.", "model": "other"},
            },
            "routes": {"fast": "baseline"},
        },
    }
    async with Gateway.from_config(config) as gateway:
        assert isinstance(gateway.shadow.store, SqlComparisonStore)
        await gateway.shadow.start("candidate", "baseline", traffic_percent=100)
        for i in range(5):
            await gateway.chat(
                [{"role": "user", "content": f"question {i}"}],
                model="fast",
                metadata={"conversation_id": f"c{i}"},
            )
        await gateway.shadow.drain()
        analysis = await gateway.shadow.analysis()
        assert analysis["totalComparisons"] == 5
        assert analysis["avgShadowCost"] > 0
        await gateway.records.flush()
        records = await gateway.stores.records.list_calls(limit=100)
    shadow = [r for r in records if r.tenant == "shadow"]
    primary = [r for r in records if r.tenant != "shadow"]
    assert len(shadow) == len(primary) == 5
    assert {r.variant for r in shadow} == {"candidate"}
    assert {r.variant for r in primary} == {"baseline"}
    assert all(r.metadata["shadow_of"] for r in shadow)
    assert all(r.cost_usd for r in shadow)
