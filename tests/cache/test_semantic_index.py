"""The semantic index: pruning finds what brute force finds; scopes never mix; bounded."""

from __future__ import annotations

import random

import numpy as np
import pytest

from steadyllm.cache.semantic_index import SemanticIndex
from steadyllm.policy.meaning_guard import conflict, meaning_of
from steadyllm.policy.similarity import jaccard, word_set

WORDS = [
    "book",
    "cancel",
    "deep",
    "standard",
    "clean",
    "cleaning",
    "price",
    "cost",
    "how",
    "much",
    "is",
    "a",
    "the",
    "for",
    "my",
    "on",
]


def jaccard_index(
    threshold: float, guard: bool = False, max_entries: int = 10_000
) -> SemanticIndex:
    return SemanticIndex(
        matcher="jaccard", threshold=threshold, guard=guard, max_entries=max_entries
    )


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8, 0.85, 1.0])
def test_prefix_filtering_finds_every_match_brute_force_finds(threshold: float) -> None:
    rng = random.Random(threshold)
    texts = [" ".join(rng.sample(WORDS, rng.randint(1, 7))) for _ in range(400)]
    index = jaccard_index(threshold)
    for number, text in enumerate(texts):
        index.add(
            tenant="t", scope="s", variant=None, key=f"k{number}", text=text, fresh_until=1e12
        )
    for query in [" ".join(rng.sample(WORDS, rng.randint(1, 7))) for _ in range(50)]:
        if not word_set(query):
            continue  # only fillers: the index matches nothing (brute force says 1.0)
        found = index.search(tenant="t", scope="s", text=query, now=0, limit=10_000)
        expected = sorted(
            (
                (jaccard(word_set(query), word_set(text)), f"k{number}")
                for number, text in enumerate(texts)
                if jaccard(word_set(query), word_set(text)) >= threshold
            ),
            key=lambda pair: (-pair[0], pair[1]),
        )
        assert [m.key for m in found] == [key for _, key in expected]
        assert [m.similarity for m in found] == pytest.approx([sim for sim, _ in expected])


def test_tenants_and_scopes_never_mix() -> None:
    index = jaccard_index(0.5)
    index.add(
        tenant="acme", scope="s1", variant=None, key="a", text="deep clean price", fresh_until=10
    )
    assert index.search(tenant="acme", scope="s1", text="deep clean price", now=0)
    assert not index.search(tenant="globex", scope="s1", text="deep clean price", now=0)
    assert not index.search(tenant="acme", scope="s2", text="deep clean price", now=0)


def test_stale_entries_do_not_match_and_are_purged() -> None:
    index = jaccard_index(0.5)
    index.add(tenant="t", scope="s", variant="v", key="a", text="deep clean price", fresh_until=10)
    assert index.search(tenant="t", scope="s", text="deep clean price", now=9)
    assert not index.search(tenant="t", scope="s", text="deep clean price", now=10)
    index.purge(10)
    assert len(index) == 0
    assert not index.has_scope("t", "s")


def test_the_guard_skips_to_the_next_best_candidate() -> None:
    index = jaccard_index(0.5, guard=True)
    index.add(
        tenant="t",
        scope="s",
        variant=None,
        key="cancel",
        text="cancel my deep clean on Friday",
        fresh_until=10,
    )
    index.add(
        tenant="t",
        scope="s",
        variant=None,
        key="book",
        text="please book a deep clean for Friday",
        fresh_until=10,
    )
    found = index.search(tenant="t", scope="s", text="book my deep clean on Friday", now=0)
    assert [m.key for m in found] == ["book"]
    assert index.guard_refusals == {"action": 1}


def test_bounded_least_recently_added_first() -> None:
    index = jaccard_index(0.5, max_entries=3)
    for number in range(5):
        index.add(
            tenant="t",
            scope=f"s{number % 2}",
            variant=None,
            key=f"k{number}",
            text=f"word{number} x",
            fresh_until=10,
        )
    assert len(index) == 3
    assert not index.search(tenant="t", scope="s0", text="word0 x", now=0)
    assert [m.key for m in index.search(tenant="t", scope="s0", text="word4 x", now=0)] == ["k4"]


def test_clear_by_variant() -> None:
    index = jaccard_index(0.5)
    index.add(
        tenant="t", scope="a", variant="baseline", key="k1", text="deep clean", fresh_until=10
    )
    index.add(
        tenant="t", scope="b", variant="candidate", key="k2", text="deep clean", fresh_until=10
    )
    assert index.clear(variant="baseline") == 1
    assert not index.has_scope("t", "a")
    assert index.has_scope("t", "b")


def unit(vector: list[float]) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    return array / np.linalg.norm(array)


def test_embedding_index_scores_by_cosine_and_removes_by_swapping() -> None:
    index = SemanticIndex(matcher="embedding", threshold=0.9, guard=False, max_entries=100)
    rng = np.random.default_rng(0)
    vectors = {f"k{i}": unit(list(rng.normal(size=8))) for i in range(40)}
    for key, vector in vectors.items():
        index.add(
            tenant="t", scope="s", variant=None, key=key, text=key, fresh_until=10, vector=vector
        )
    query = vectors["k7"]
    assert index.search(tenant="t", scope="s", text="k7", now=0, vector=query)[0].key == "k7"
    index.remove("k7")
    index.remove("k0")
    found = index.search(tenant="t", scope="s", text="k7", now=0, vector=query, limit=50)
    assert "k7" not in {m.key for m in found}
    last = vectors["k39"]
    assert index.search(tenant="t", scope="s", text="k39", now=0, vector=last)[0].key == "k39"
    assert all(m.similarity >= 0.9 for m in found)


def test_guard_table_agrees_with_the_index() -> None:
    a, b = "Book a deep clean on Friday", "Book a deep clean on Thursday"
    assert conflict(meaning_of(a), meaning_of(b)) == "date"
    index = jaccard_index(0.5, guard=True)
    index.add(tenant="t", scope="s", variant=None, key="k", text=a, fresh_until=10)
    assert not index.search(tenant="t", scope="s", text=b, now=0)


def test_a_large_embedding_index_is_partitioned_and_still_finds_near_neighbours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from steadyllm.cache import semantic_index

    monkeypatch.setattr(semantic_index._EmbeddingScope, "_FLAT_LIMIT", 100)
    index = SemanticIndex(matcher="embedding", threshold=0.8, guard=False, max_entries=10_000)
    rng = np.random.default_rng(1)
    vectors = {f"k{i}": unit(list(rng.normal(size=32))) for i in range(600)}
    for key, vector in vectors.items():
        index.add(
            tenant="t", scope="s", variant=None, key=key, text=key, fresh_until=10, vector=vector
        )
    for key in [f"k{i}" for i in range(0, 600, 3)]:  # remove a third, rows move around
        index.remove(key)
        del vectors[key]
    index.add(
        tenant="t",
        scope="s",
        variant=None,
        key="k1",
        text="k1",
        fresh_until=10,
        vector=vectors["k1"],
    )
    scope = index._scopes[("t", "s")]
    assert scope._centroids is not None  # type: ignore[attr-defined]
    found = 0
    for key, vector in vectors.items():
        near = unit(list(vector + rng.normal(scale=0.05, size=32)))
        best = index.search(tenant="t", scope="s", text=key, now=0, vector=near)
        found += bool(best) and best[0].key == key
    assert found >= 0.95 * len(vectors)
