"""Draw docs/img/shadow_comparison.png: one shadow test, comparison by comparison.

An in-process gateway and simulator: the live variant ``baseline`` on a deployment
with 40 ms (+/- 20 ms) latency, the candidate ``concise`` (another system prompt, a
faster deployment) shadowing 100 % of 300 conversations. Left: answer similarity;
right: primary against shadow latency per request.

    python scripts/shadow_comparison_plot.py          # needs the figures extra (matplotlib)
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from steadyllm.gateway import Gateway

OUT = Path(__file__).resolve().parent.parent / "docs" / "img" / "shadow_comparison.png"
PRICE = {"input_per_million": 0.5, "output_per_million": 1.5}
QUESTIONS = [
    "Is room {i} free on Friday?",
    "Can I move booking {i} to next week?",
    "What does the late checkout for room {i} cost?",
]


def _config() -> dict[str, Any]:
    def model(name: str, latency: float) -> dict[str, Any]:
        deployment = {
            "provider": "sim",
            "model": name,
            "price": PRICE,
            "sim": {"latency_ms": latency, "latency_jitter_ms": 20, "seed": 1},
        }
        return {"name": name, "deployments": [deployment]}

    return {
        "store": {"url": "memory://"},
        "cache": {"enabled": False},
        "models": [model("assistant", 40), model("assistant-fast", 15)],
        "variants": {
            "definitions": {
                "baseline": {"system_prompt": "You are the hotel's booking assistant."},
                "concise": {
                    "system_prompt": "You are the hotel's booking assistant. Be concise.",
                    "model": "assistant-fast",
                },
            },
            "routes": {"assistant": "baseline"},
            "shadow": {"workers": 8},
        },
    }


async def _collect() -> tuple[list[Any], dict[str, Any]]:
    async with Gateway.from_config(_config()) as gateway:
        await gateway.shadow.start("concise", "baseline", traffic_percent=100, target_samples=300)
        session = gateway.shadow.session
        assert session is not None
        for i in range(300):
            text = QUESTIONS[i % len(QUESTIONS)].format(i=i)
            await gateway.chat(
                [{"role": "user", "content": text}],
                model="assistant",
                metadata={"conversation_id": f"c{i}"},
            )
        await gateway.shadow.drain()
        analysis = await gateway.shadow.analysis()
        comparisons = await gateway.shadow.store.list(session.id)
    return comparisons, analysis


def main() -> None:
    comparisons, analysis = asyncio.run(_collect())
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.hist([c.similarity for c in comparisons], bins=20, range=(0, 1), color="#4c78a8")
    left.axvline(0.5, color="#e45756", linestyle="--", label="different below 0.5")
    left.set_xlabel("word-set similarity, primary vs shadow answer")
    left.set_ylabel("comparisons")
    left.set_title(f"difference rate {analysis['differenceRate']:.0%}")
    left.legend()
    primary = [c.primary_duration_ms for c in comparisons]
    shadow = [c.shadow_duration_ms for c in comparisons]
    right.scatter(primary, shadow, s=10, alpha=0.6, color="#54a24b")
    top = max(primary + shadow)
    right.plot([0, top], [0, top], color="#888888", linewidth=1, label="equal latency")
    right.set_xlabel("primary latency (ms)")
    right.set_ylabel("shadow latency (ms)")
    right.set_title(f"performance delta {analysis['performanceDelta']:+.0%}")
    right.legend()
    figure.suptitle(
        f"Shadow test: 'concise' shadowing 'baseline', {analysis['totalComparisons']} comparisons"
    )
    figure.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(OUT, dpi=110)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
