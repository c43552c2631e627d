"""Shared pieces of the lifecycle tests: a gateway config on the in-process simulator,
simulated outcomes, and a fake shadow runner."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from steadyllm.lifecycle.records import Outcome

DAY = 86_400.0


def sim_config(tmp_path: Path, **lifecycle: Any) -> dict[str, Any]:
    return {
        "store": {"url": f"sqlite:///{tmp_path / 'steadyllm.db'}"},
        "records": {"flush_interval": 0.05},
        "models": [
            {"name": "fast", "deployments": [{"provider": "sim", "model": "sim-fast"}]},
            {"name": "smart", "deployments": [{"provider": "sim", "model": "sim-smart"}]},
        ],
        "lifecycle": {
            "drift": {"check_interval_seconds": 0},
            "evaluation": {"cases_path": str(tmp_path / "eval_cases.jsonl")},
            **lifecycle,
        },
    }


def outcomes(
    now: float, *, baseline_rate: float = 0.75, recent_rate: float = 0.60, seed: int = 7
) -> list[Outcome]:
    """700 conversations over the 7 days before the last 24 h, then 100 in the last 24 h.

    Booking rates are exact (525 of 700, then 60 of 100); failures mention prices or
    availability so the failure analysis has patterns to find.
    """
    rng = random.Random(seed)
    rows: list[Outcome] = []
    windows = ((700, baseline_rate, now - 8 * DAY, 7 * DAY), (100, recent_rate, now - DAY, DAY))
    for n, rate, start, span in windows:
        booked = [i < round(n * rate) for i in range(n)]
        rng.shuffle(booked)
        for ok in booked:
            created = start + rng.random() * span * 0.999
            text = "" if ok else rng.choice(["the price is too expensive", "no slots available"])
            rows.append(
                Outcome(
                    id=f"out_{len(rows):05d}",
                    created_at=created,
                    conversation_id=f"conv_{len(rows)}",
                    variant="baseline",
                    version=1,
                    booked=ok,
                    escalated=False,
                    action="book_appointment" if ok else "check_availability",
                    text=text or None,
                    messages=[
                        {"role": "user", "content": "I want to book a cleaning"},
                        {"role": "assistant", "content": "Sure, which day suits you?"},
                    ],
                    cost_usd=0.002 * rng.lognormvariate(0, 0.2),
                    latency_ms=800 * rng.lognormvariate(0, 0.2),
                    tokens=120,
                )
            )
    return rows


class FakeShadow:
    """A shadow runner that records its calls and answers the promotion check as told."""

    def __init__(self, promote: bool) -> None:
        self.should_promote = promote
        self.calls: list[tuple[Any, ...]] = []

    async def start(
        self,
        shadow_variant: str,
        primary_variant: str,
        traffic_percent: float,
        target_samples: int,
        auto_promote: bool,
    ) -> dict[str, Any]:
        self.calls.append(
            (
                "start",
                shadow_variant,
                primary_variant,
                traffic_percent,
                target_samples,
                auto_promote,
            )
        )
        return {"active": True, "shadowVariant": shadow_variant}

    async def status(self) -> dict[str, Any]:
        return {"active": True}

    async def promotion_check(self) -> dict[str, Any]:
        self.calls.append(("promotion_check",))
        if self.should_promote:
            return {"shouldPromote": True, "reasons": ["100 samples, error rate 0%"]}
        return {"shouldPromote": False, "reasons": ["cost increase 25% > 10%"]}

    async def promote(self) -> dict[str, Any]:
        self.calls.append(("promote",))
        return {"success": True}

    async def rollback(self) -> dict[str, Any]:
        self.calls.append(("rollback",))
        return {"success": True}
