"""The prompt version registry, against every backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from steadyllm.errors import Conflict, InvalidRequest, NotFound
from steadyllm.lifecycle.records import Outcome, PromptVersion
from steadyllm.lifecycle.rows import SqlRows
from steadyllm.lifecycle.runtime import Lifecycle
from steadyllm.lifecycle.versions import VersionRegistry, compare_outcomes
from steadyllm.stores.sql import open_database, upgrade
from steadyllm.stores.sql.schema import MODEL_VERSIONS
from tests.lifecycle.conftest import Clock

V1 = "You are a booking assistant.\nBe polite.\nAsk for the date."
V2 = "You are a booking assistant.\nBe polite and brief.\nAsk for the date.\nOffer two slots."


async def test_register_numbers_versions_and_first_is_active(lifecycle: Lifecycle) -> None:
    versions = lifecycle.versions
    first = await versions.register("baseline", V1, description="first", created_by="ana")
    second = await versions.register("baseline", V2, changes=["brief", "slots"])
    assert (first.version, second.version) == (1, 2)
    assert first.is_active
    assert not second.is_active
    assert (await versions.active("baseline")).version == 1  # type: ignore[union-attr]
    assert await versions.active_prompt("baseline") == V1
    assert await versions.active_prompt("unknown") is None
    other = await versions.register("casual", "Hey!")
    assert other.version == 1
    assert other.is_active
    listed = {v["variant"]: v for v in await versions.list()}
    assert listed["baseline"] == {"variant": "baseline", "versions": 2, "activeVersion": 1}


async def test_rollback_restores_the_previous_prompt(lifecycle: Lifecycle, clock: Clock) -> None:
    versions = lifecycle.versions
    await versions.register("baseline", V1)
    await versions.register("baseline", V2)
    clock.now += 10
    await versions.activate("baseline", 2)
    assert await versions.active_prompt("baseline") == V2
    actives = [v for v in await versions.versions("baseline") if v.is_active]
    assert [v.version for v in actives] == [2]  # exactly one active
    clock.now += 10
    left, restored = await versions.rollback("baseline")
    assert (left.version, restored.version) == (2, 1)
    assert "rollback" in left.tags
    assert await versions.active_prompt("baseline") == V1
    assert [v.version for v in await versions.versions("baseline") if v.is_active] == [1]
    history = await versions.history("baseline")
    assert [h["version"] for h in history] == [1, 2]  # most recently activated first
    with pytest.raises(Conflict):
        await versions.rollback("baseline")  # v1 had nothing before it


async def test_diff_shows_changed_lines_and_length(lifecycle: Lifecycle) -> None:
    versions = lifecycle.versions
    await versions.register("baseline", V1)
    await versions.register("baseline", V2)
    diff = await versions.diff("baseline", 1, 2)
    assert diff["removed"] == ["Be polite."]
    assert diff["added"] == ["Be polite and brief.", "Offer two slots."]
    assert diff["lengthDifference"] == len(V2) - len(V1)
    assert "-Be polite.\n+Be polite and brief." in diff["diff"]
    assert diff["diff"].startswith("--- v1\n+++ v2")


async def test_tags_and_errors(lifecycle: Lifecycle) -> None:
    versions = lifecycle.versions
    await versions.register("baseline", V1)
    tagged = await versions.tag("baseline", 1, "stable")
    tagged = await versions.tag("baseline", 1, "production")
    assert tagged.tags == ("stable", "production")
    assert (await versions.get("baseline", 1)).tags == ("stable", "production")
    with pytest.raises(InvalidRequest):
        await versions.tag("baseline", 1, "shiny")
    with pytest.raises(NotFound):
        await versions.activate("baseline", 9)
    with pytest.raises(InvalidRequest):
        await versions.register("baseline", "")


async def test_activation_reaches_another_replica_within_a_second(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    await upgrade(url)
    here, there = open_database(url), open_database(url)  # two replicas, one database
    try:
        ticks = Clock(0.0)
        mine = VersionRegistry(SqlRows(here, MODEL_VERSIONS, PromptVersion))
        other = VersionRegistry(
            SqlRows(there, MODEL_VERSIONS, PromptVersion), cache_seconds=1.0, monotonic=ticks
        )
        await mine.register("baseline", V1)
        assert await other.active_prompt("baseline") == V1
        await mine.register("baseline", V2)
        await mine.activate("baseline", 2)
        ticks.now += 0.5
        assert await other.active_prompt("baseline") == V1  # still its cached copy
        ticks.now += 0.5
        assert await other.active_prompt("baseline") == V2  # a second later: the new prompt
    finally:
        await here.dispose()
        await there.dispose()


def test_compare_outcomes_rates_and_differences() -> None:
    def outcome(i: int, booked: bool, cost: float) -> Outcome:
        return Outcome(id=str(i), created_at=i, booked=booked, cost_usd=cost, tokens=100)

    v1 = [outcome(i, i < 5, 0.01) for i in range(10)]
    v2 = [outcome(i, i < 6, 0.012) for i in range(10)]
    result = compare_outcomes({1: v1, 2: v2})
    assert result["versions"]["1"]["bookingRate"] == 0.5
    assert result["versions"]["2"]["bookings"] == 6
    assert result["differencesPercent"]["bookingRate"] == pytest.approx(20.0)
    assert result["differencesPercent"]["avgCost"] == pytest.approx(20.0)


async def test_candidate_names_resolve_to_their_version(lifecycle: Lifecycle) -> None:
    await lifecycle.versions.register("baseline", V1)
    await lifecycle.versions.register("baseline", V2)
    assert await lifecycle.versions.active_prompt("baseline_v2") == V2
    assert await lifecycle.versions.active_prompt("baseline_v9") is None
