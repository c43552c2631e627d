"""The cache stage around a fake upstream: hits, misses, bypass, TTLs, stale, streams."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from steadyllm.errors import InvalidRequest, ServiceUnavailable
from steadyllm.stores.base import CacheEntry
from steadyllm.stores.memory import MemoryCacheStore
from tests.cache.helpers import Clock, HashEncoder, Rig, unavailable


async def test_miss_then_hit_never_reaches_the_upstream_again() -> None:
    async with Rig() as rig:
        first, _, one = await rig.ask("How much is a deep clean?")
        second, response, two = await rig.ask("How much is a deep clean?")
        assert rig.upstream.calls == 1
        assert one == two
        assert first.notes["cache"] == "miss"
        assert second.notes["cache"] == "hit"
        assert second.response_headers["x-steadyllm-cache"] == "hit"
        assert response.cost == 0.0
        assert response.usage.total_tokens == 0
        assert response.deployment is None


async def test_not_cacheable_is_bypassed() -> None:
    async with Rig() as rig:
        for _ in range(2):
            call, _, _ = await rig.ask("Hi", temperature=0.9)
            assert call.notes["cache"] == "bypass"
        assert rig.upstream.calls == 2
        assert rig.cache.stats.bypasses == 2
        assert rig.cache.stats.misses == 0


async def test_embeddings_are_not_touched() -> None:
    async with Rig() as rig:
        call = rig.call("x")
        call.kind = "embeddings"
        await rig.handler(call)
        assert "cache" not in call.notes


async def test_no_cache_skips_the_lookup_but_refreshes_the_entry() -> None:
    async with Rig() as rig:
        await rig.ask("Q")
        call, _, text = await rig.ask("Q", headers={"cache-control": "no-cache"})
        assert call.notes["cache"] == "bypass"
        assert text == "answer 2 to Q"
        _, _, again = await rig.ask("Q")
        assert again == "answer 2 to Q"
        assert rig.upstream.calls == 2


async def test_no_store_does_not_keep_the_answer() -> None:
    async with Rig() as rig:
        call, _, _ = await rig.ask("Q", headers={"cache-control": "no-store"})
        assert call.notes["cache"] == "miss"
        call, _, _ = await rig.ask("Q")
        assert call.notes["cache"] == "miss"
        assert rig.upstream.calls == 2


async def test_ttl_header_and_default_ttl() -> None:
    async with Rig(ttl=100) as rig:
        await rig.ask("short", headers={"x-steadyllm-cache-ttl": "10"})
        await rig.ask("long")
        rig.clock.now += 11
        assert (await rig.ask("short"))[0].notes["cache"] == "miss"
        assert (await rig.ask("long"))[0].notes["cache"] == "hit"
        rig.clock.now += 90
        assert (await rig.ask("long"))[0].notes["cache"] == "miss"


async def test_bad_ttl_header_is_refused() -> None:
    async with Rig() as rig:
        with pytest.raises(InvalidRequest):
            await rig.ask("Q", headers={"x-steadyllm-cache-ttl": "later"})
        assert rig.upstream.calls == 0


async def test_stale_answer_when_no_deployment_can_answer() -> None:
    async with Rig(ttl=10, serve_stale=True, stale_max_age=100) as rig:
        await rig.ask("Q")
        rig.clock.now += 50
        rig.upstream.fail = unavailable()
        call, response, text = await rig.ask("Q")
        assert call.notes["cache"] == "stale"
        assert text == "answer 1 to Q"
        assert call.response_headers["x-steadyllm-cache"] == "stale"
        assert response.cost == 0.0
        assert rig.cache.stats.stale_hits == 1
        assert rig.cache.stats.misses == 1
        rig.clock.now += 100
        with pytest.raises(ServiceUnavailable):
            await rig.ask("Q")


async def test_no_stale_answer_unless_configured() -> None:
    async with Rig(ttl=10) as rig:
        await rig.ask("Q")
        rig.clock.now += 11
        rig.upstream.fail = unavailable()
        with pytest.raises(ServiceUnavailable):
            await rig.ask("Q")


async def test_other_errors_are_not_answered_stale_and_never_cached() -> None:
    async with Rig(ttl=10, serve_stale=True) as rig:
        rig.upstream.fail = InvalidRequest("bad")
        with pytest.raises(InvalidRequest):
            await rig.ask("Q")
        rig.upstream.fail = None
        assert (await rig.ask("Q"))[0].notes["cache"] == "miss"


async def test_stale_entries_are_kept_in_the_store_for_the_stale_window() -> None:
    store = MemoryCacheStore()
    async with Rig(store=store, ttl=10, serve_stale=True, stale_max_age=100) as rig:
        await rig.ask("Q")
        await rig.cache.flush()
        rig.clock.now += 50
        await rig.cache.purge_expired()
        assert await store.scan("default", _scope(rig), now=rig.clock.now, limit=10)
        rig.clock.now += 100
        await rig.cache.purge_expired()
        assert await store.clear() == 0


def _scope(rig: Rig) -> str:
    from steadyllm.policy.cache_key import request_key

    return request_key(rig.call("Q").body, tenant="default", variant=None).scope


class BrokenStore(MemoryCacheStore):
    async def get(self, key: str, *, now: float) -> CacheEntry | None:
        raise ConnectionError("store down")

    async def put(self, entry: CacheEntry, *, max_entries: int | None = None) -> None:
        raise ConnectionError("store down")

    async def scan(self, tenant: str, scope: str, *, now: float, limit: int) -> list[CacheEntry]:
        raise ConnectionError("store down")


async def test_a_failing_store_never_fails_a_request() -> None:
    async with Rig(store=BrokenStore(), l1_max_entries=0) as rig:
        for _ in range(3):
            call, _, _ = await rig.ask("Q")
            assert call.notes["cache"] == "miss"
        await rig.cache.flush()
        assert rig.upstream.calls == 3
        assert rig.cache.stats.store_errors >= 6  # 3 reads, 3 writes


class FlakyStore(MemoryCacheStore):
    """Down until ``up`` is set."""

    up = False

    async def get(self, key: str, *, now: float) -> CacheEntry | None:
        if not self.up:
            raise ConnectionError("store down")
        return await super().get(key, now=now)

    async def put(self, entry: CacheEntry, *, max_entries: int | None = None) -> None:
        if not self.up:
            raise ConnectionError("store down")
        await super().put(entry, max_entries=max_entries)


async def test_a_store_outage_is_logged_once_and_its_end_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FlakyStore()
    async with Rig(store=store, l1_max_entries=0) as rig:
        with caplog.at_level(logging.WARNING, logger="steadyllm.cache"):
            for number in range(20):
                await rig.ask(f"Q{number}")
            await rig.cache.flush()
            store.up = True
            await rig.ask("after")
            await rig.cache.flush()
    messages = [r.getMessage() for r in caplog.records]
    assert rig.cache.stats.store_errors == 40  # 20 reads and 20 writes, all counted
    assert sum("cache store read failed" in m or "write failed" in m for m in messages) == 1
    assert [m for m in messages if "answering again" in m] == [
        "cache store answering again after 40 failures"
    ]


async def test_l1_answers_while_the_store_is_down() -> None:
    async with Rig(store=BrokenStore()) as rig:
        await rig.ask("Q")
        assert (await rig.ask("Q"))[0].notes["cache"] == "hit"


async def test_tenants_never_share_answers() -> None:
    async with Rig() as rig:
        await rig.ask("How much is a deep clean?", tenant="acme")
        call, _, text = await rig.ask("How much is a deep clean?", tenant="globex")
        assert call.notes["cache"] == "miss"
        assert text == "answer 2 to How much is a deep clean?"
        call, _, _ = await rig.ask("how much is a deep clean", tenant="globex")
        assert call.notes["cache"] == "semantic-hit"
        assert rig.upstream.calls == 2


@pytest.mark.parametrize(
    "params",
    [
        {"temperature": 0.1},
        {"top_p": 0.9},
        {"max_tokens": 10},
        {"seed": 3},
        {"stop": ["."]},
        {"n": 2},
        {"response_format": {"type": "json_object"}},
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        {"vendor_extra": 1},
    ],
)
async def test_any_answer_changing_parameter_misses_also_semantically(
    params: dict[str, Any],
) -> None:
    async with Rig() as rig:
        await rig.ask("How much is a deep clean?")
        call, _, _ = await rig.ask("How much is a deep clean?", **params)
        assert call.notes["cache"] == "miss"
        call, _, _ = await rig.ask("how much is a deep clean", **params)
        assert call.notes["cache"] == "semantic-hit"  # ...of the entry with those params


async def test_variant_scopes_entries() -> None:
    async with Rig() as rig:
        await rig.ask("Q", variant="baseline")
        assert (await rig.ask("Q", variant="candidate"))[0].notes["cache"] == "miss"
        assert (await rig.ask("Q", variant="baseline"))[0].notes["cache"] == "hit"


async def test_semantic_hit_with_similarity_and_guard() -> None:
    async with Rig() as rig:
        await rig.ask("Can I book a deep cleaning for Friday?")
        call, _, text = await rig.ask("can i book a deep cleaning for friday")
        assert call.notes["cache"] == "semantic-hit"
        assert call.response_headers["x-steadyllm-cache-similarity"] == "1.0000"
        assert text == "answer 1 to Can I book a deep cleaning for Friday?"
        for near_miss in (
            "Can I not book a deep cleaning for Friday?",
            "Can I book a deep cleaning for Friday 3pm?",
            "Can I cancel a deep cleaning for Friday?",
            "Can I book a deep cleaning for Thursday?",
        ):
            assert (await rig.ask(near_miss))[0].notes["cache"] == "miss"
        assert rig.cache.index is not None
        # the first two score above the threshold: refused by meaning, not by score
        assert rig.cache.index.guard_refusals == {"negation": 1, "time": 1}


async def test_semantic_matching_can_be_turned_off_per_model() -> None:
    async with Rig(models={"fast": {"semantic": False}}) as rig:
        await rig.ask("Can I book a deep cleaning for Friday?")
        call, _, _ = await rig.ask("can i book a deep cleaning for friday")
        assert call.notes["cache"] == "miss"


async def test_embedding_matcher_with_a_stand_in_model() -> None:
    async with Rig(encoder=HashEncoder(), semantic={"matcher": "embedding"}) as rig:
        await rig.ask("Can I book a deep cleaning for Friday?")
        await rig.cache.flush()  # embeddings are indexed behind the response
        call, _, _ = await rig.ask("can i book a deep cleaning for friday")
        assert call.notes["cache"] == "semantic-hit"
        assert float(call.response_headers["x-steadyllm-cache-similarity"]) > 0.99
        assert (await rig.ask("Can I cancel a deep cleaning for Friday?"))[0].notes[
            "cache"
        ] == "miss"
        assert rig.cache.matcher is not None
        assert rig.cache.matcher.cache.hits >= 1


async def test_a_streamed_answer_is_kept_once_complete_and_replayed() -> None:
    async with Rig() as rig:
        first, _, text = await rig.ask("Q", stream=True)
        assert first.notes["cache"] == "miss"
        assert text == "answer 1 to Q"
        call, response, replayed = await rig.ask("Q", stream=True)
        assert call.notes["cache"] == "hit"
        assert replayed == text
        assert response.cost == 0.0
        call, response, plain = await rig.ask("Q")
        assert call.notes["cache"] == "hit"
        assert plain.strip() == text
        assert response.body is not None
        assert response.body["usage"]["total_tokens"] == 30
        assert rig.upstream.calls == 1


async def test_a_plain_answer_replays_as_a_stream() -> None:
    async with Rig() as rig:
        await rig.ask("Q")
        call, response, text = await rig.ask("Q", stream=True)
        assert call.notes["cache"] == "hit"
        assert text == "answer 1 to Q"
        assert response.first_token_at is not None


async def test_a_cut_or_abandoned_stream_is_not_kept() -> None:
    async with Rig() as rig:
        rig.upstream.cut_stream = True
        with pytest.raises(Exception, match="cut"):
            await rig.ask("Q", stream=True)
        rig.upstream.cut_stream = False
        response = await rig.handler(rig.call("R", stream=True))
        assert response.chunks is not None
        async for _ in response.chunks:
            break
        await response.chunks.aclose()  # type: ignore[attr-defined]
        assert (await rig.ask("Q"))[0].notes["cache"] == "miss"
        assert (await rig.ask("R"))[0].notes["cache"] == "miss"


async def test_stats_count_hits_and_what_they_saved() -> None:
    async with Rig() as rig:
        await rig.ask("Q", variant="baseline")
        for _ in range(3):
            await rig.ask("Q", variant="baseline")
        await rig.ask("other question entirely", variant="candidate")
        stats = rig.cache.stats.snapshot(now=rig.clock.now, limit=10)
        overall = stats["overall"]
        assert (overall["hits"], overall["misses"]) == (3, 2)
        assert overall["hitRate"] == pytest.approx(0.6)
        assert overall["costSaved"] == pytest.approx(3 * rig.upstream.cost)
        entry = rig.cache.stats.entries[next(iter(rig.cache.stats.entries))]
        assert overall["timeSaved"] == pytest.approx(3 * entry.response_time_ms)
        assert stats["topQueries"][0]["user_message"] == "Q"
        assert stats["topQueries"][0]["hit_count"] == 3
        by_variant = {row["variant"]: row for row in stats["byVariant"]}
        assert by_variant["baseline"]["entries"] == 1
        assert by_variant["baseline"]["total_hits"] == 3
        assert by_variant["candidate"]["total_hits"] == 0


async def test_l1_hits_are_reported_to_l2() -> None:
    store = MemoryCacheStore()
    async with Rig(store=store) as rig:
        await rig.ask("Q")
        await rig.ask("Q")
        await rig.ask("Q")
        await rig.cache.flush()
        (entry,) = await store.scan("default", _scope(rig), now=rig.clock.now, limit=5)
        assert entry.hit_count == 2
        assert entry.cost_usd == pytest.approx(rig.upstream.cost)


async def test_l2_is_shared_and_the_semantic_index_is_loaded_from_it() -> None:
    store = MemoryCacheStore()
    clock = Clock()
    async with Rig(store=store, clock=clock) as first:
        await first.ask("Can I book a deep cleaning for Friday?")
        await first.cache.flush()
    async with Rig(store=store, clock=clock) as second:
        call, _, _ = await second.ask("Can I book a deep cleaning for Friday?")
        assert call.notes["cache"] == "hit"  # from L2
        call, _, _ = await second.ask("Could I book a deep cleaning for Friday?")
        assert call.notes["cache"] == "miss"  # the index of this scope is still loading
        await second.cache.wait_idle()
        call, _, _ = await second.ask("can i book a deep cleaning for friday")
        assert call.notes["cache"] == "semantic-hit"
        assert second.upstream.calls == 1


async def test_clear_all_or_one_variant_and_clear_expired() -> None:
    store = MemoryCacheStore()
    async with Rig(store=store, ttl=10) as rig:
        await rig.ask("A", variant="baseline")
        await rig.ask("B", variant="candidate")
        await rig.cache.flush()
        assert await rig.cache.clear(variant="baseline") == 1
        assert (await rig.ask("A", variant="baseline"))[0].notes["cache"] == "miss"
        assert (await rig.ask("B", variant="candidate"))[0].notes["cache"] == "hit"
        await rig.cache.flush()
        rig.clock.now += 11
        assert await rig.cache.clear_expired() == 2
        assert await rig.cache.clear() == 0


async def test_the_write_queue_is_bounded() -> None:
    async with Rig(write_queue=2) as rig:
        for number in range(5):
            await rig.ask(f"question {number}")
        assert rig.cache.stats.dropped_writes == 3
        assert (await rig.ask("question 4"))[0].notes["cache"] == "hit"  # L1 still has it


def test_the_embedding_matcher_without_its_extra_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from steadyllm.cache import runtime
    from steadyllm.cache.settings import CacheSettings
    from steadyllm.config import ConfigError

    monkeypatch.setattr(runtime, "embeddings_available", lambda: False)
    settings = CacheSettings.model_validate({"semantic": {"matcher": "embedding"}})
    with pytest.raises(ConfigError, match="embeddings extra"):
        runtime.ResponseCache.check(settings)
    runtime.ResponseCache.check(CacheSettings())  # Jaccard needs nothing
