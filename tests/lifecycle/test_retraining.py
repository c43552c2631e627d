"""Retraining end to end on the in-process simulator: drift, prompt, evaluation, shadow."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from steadyllm.gateway import Gateway
from steadyllm.lifecycle.runtime import Lifecycle
from steadyllm.stores.sql import open_database
from tests.lifecycle.helpers import FakeShadow, outcomes, sim_config

BASE_PROMPT = "You are the booking assistant of a dental clinic.\nBe polite."


async def _drifted(gateway: Gateway) -> None:
    await gateway.lifecycle.versions.register("baseline", BASE_PROMPT)
    await gateway.lifecycle.feedback.rows.put(*outcomes(time.time()))


@pytest.mark.parametrize("promote", [True, False])
async def test_drift_triggers_a_session_that_ends_promoted_or_rolled_back(
    tmp_path: Path, promote: bool
) -> None:
    shadow = FakeShadow(promote)
    async with Gateway.from_config(sim_config(tmp_path)) as gateway:
        lifecycle = gateway.lifecycle
        lifecycle.retraining._shadow_runner = lambda: shadow
        await _drifted(gateway)

        check = await lifecycle.retraining.check("baseline")
        assert check["shouldRetrain"], check
        assert check["reasons"] == ["high-severity drift"]
        booking = check["detection"]["metrics"]["booking_rate"]
        assert booking["drift"]
        assert booking["severity"] == "high"
        assert booking["baseline"] == pytest.approx(0.75)
        assert booking["recent"] == pytest.approx(0.60)

        session = await lifecycle.retraining.start("baseline", trigger={"type": "drift"})
        assert session.status == "awaiting_finalize", session.reasons
        state = session.state
        assert state["data"]["conversations"] == 500
        patterns = state["analysis"]["patterns"]
        assert patterns["pricing"]["count"] + patterns["availability"]["count"] > 0
        assert state["prompt"].startswith("[simulated]")  # the optimizer's answer, via the sim
        assert session.new_version == 2
        candidate = await lifecycle.versions.get("baseline", 2)
        assert candidate.system_prompt == state["prompt"]
        assert candidate.tags == ("experimental",)
        assert state["evaluation"]["average"] >= 0.8
        assert shadow.calls[0] == ("start", "baseline_v2", "baseline", 10.0, 100, False)

        done = await lifecycle.retraining.finalize(session.id)
        active = await lifecycle.versions.active("baseline")
        assert active is not None
        if promote:
            assert done.status == "promoted"
            assert done.reasons == ["100 samples, error rate 0%"]
            assert active.version == 2
            assert "production" in active.tags
            assert shadow.calls[-1] == ("promote",)
        else:
            assert done.status == "rolled_back"
            assert done.reasons == ["cost increase 25% > 10%"]
            assert active.version == 1
            assert "rollback" in (await lifecycle.versions.get("baseline", 2)).tags
            assert shadow.calls[-1] == ("rollback",)
        assert done.completed_at is not None
        # The cooldown now holds off another session.
        again = await lifecycle.retraining.check("baseline")
        assert not again["shouldRetrain"]
        assert again["blockedBy"]


class Crash(BaseException):
    """The process dying mid-step (not an error the orchestrator could record)."""


async def test_a_session_resumes_after_a_restart(tmp_path: Path) -> None:
    config = sim_config(tmp_path)
    url = config["store"]["url"]
    async with Gateway.from_config(config) as gateway:
        await _drifted(gateway)
        calls: list[str] = []

        async def crashing_at_evaluation(messages: list[dict[str, Any]], **params: Any) -> Any:
            calls.append(params["model"])
            if params["model"] == "fast":  # evaluation runs on "fast", the optimizer on "smart"
                raise Crash
            return await gateway.chat(messages, **params)

        settings = gateway.settings.lifecycle
        first_db = open_database(url)
        first = Lifecycle(settings, first_db, None, crashing_at_evaluation)
        with pytest.raises(Crash):
            await first.retraining.start("baseline")
        await first_db.dispose()
        stored = (await gateway.lifecycle.retraining.history("baseline"))[0]
        assert (stored.status, stored.step, stored.new_version) == ("running", "evaluate", 2)

        second_db = open_database(url)  # a new process over the same SQLite file
        second = Lifecycle(settings, second_db, None, gateway.chat)
        resumed = await second.retraining.resume()
        await second_db.dispose()
        assert [s.id for s in resumed] == [stored.id]
        assert resumed[0].status == "awaiting_finalize"
        assert resumed[0].state["prompt"] == stored.state["prompt"]  # not generated again
        versions = await gateway.lifecycle.versions.versions("baseline")
        assert [v.version for v in versions] == [1, 2]  # not registered again
        assert calls == ["smart", "fast"]


async def test_too_little_data_fails_with_a_reason(tmp_path: Path) -> None:
    async with Gateway.from_config(sim_config(tmp_path)) as gateway:
        await gateway.lifecycle.versions.register("baseline", BASE_PROMPT)
        session = await gateway.lifecycle.retraining.start("baseline")
        assert session.status == "failed"
        assert "at least 50 needed" in session.reasons[0]


async def test_the_scheduled_check_starts_a_session_on_drift(tmp_path: Path) -> None:
    async with Gateway.from_config(sim_config(tmp_path)) as gateway:
        lifecycle = gateway.lifecycle
        shadow = FakeShadow(True)
        lifecycle.retraining._shadow_runner = lambda: shadow
        await lifecycle.versions.register("baseline", BASE_PROMPT)
        assert await lifecycle.scheduled_check("baseline") is None  # no data, no drift
        await lifecycle.feedback.rows.put(*outcomes(time.time()))
        session = await lifecycle.scheduled_check("baseline")
        assert session is not None
        assert session.status == "awaiting_finalize"
        assert session.trigger["type"] == "drift"
        assert session.trigger["reasons"] == ["high-severity drift"]
        assert await lifecycle.scheduled_check("baseline") is None  # cooldown: no second one
