"""Shadow calls spend their own daily budget; when it is used up the copy is skipped."""

from __future__ import annotations

from typing import Any

from steadyllm.gateway import Gateway

PRICE = {"input_per_million": 100.0, "output_per_million": 100.0}


def config(budget: float | None) -> dict[str, Any]:
    return {
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
            "shadow": {"daily_budget_usd": budget, "workers": 1},
        },
    }


async def run(gateway: Gateway, n: int) -> list[dict[str, Any]]:
    await gateway.shadow.start("candidate", "baseline", traffic_percent=100, target_samples=n)
    answers = []
    for i in range(n):
        answers.append(
            await gateway.chat(
                [{"role": "user", "content": f"question {i}"}],
                model="fast",
                max_tokens=40,
                metadata={"conversation_id": f"c{i}"},
            )
        )
        await gateway.shadow.drain()
    return answers


async def test_a_spent_budget_skips_shadow_copies_never_the_primary() -> None:
    async with Gateway.from_config(config(0.02)) as gateway:
        answers = await run(gateway, 12)
        status = await gateway.shadow.status()
        comparisons = await gateway.shadow.store.list(status["sessionId"])
    assert all(a["choices"][0]["message"]["content"] for a in answers)
    assert status["enqueued"] == 12
    assert 0 < len(comparisons) < 12
    assert status["droppedBudget"] == 12 - len(comparisons)
    assert status["samplesCollected"] == len(comparisons)
    spent = sum(c.shadow_cost or 0.0 for c in comparisons)
    assert 0 < spent <= 0.02  # settled at the actual cost, never past the budget


async def test_a_zero_budget_runs_no_shadow_call_and_none_is_unlimited() -> None:
    async with Gateway.from_config(config(0.0)) as gateway:
        await run(gateway, 3)
        status = await gateway.shadow.status()
    assert status["droppedBudget"] == 3
    assert status["samplesCollected"] == 0
    async with Gateway.from_config(config(None)) as gateway:
        await run(gateway, 3)
        status = await gateway.shadow.status()
    assert status["droppedBudget"] == 0
    assert status["samplesCollected"] == 3
