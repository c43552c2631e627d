from __future__ import annotations

import math

import pytest

from steadyllm.policy.similarity import cosine, jaccard, word_set


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("How much is a deep clean?", "how much is a deep clean", 1.0),
        ("Don't book it", "dont book it", 1.0),
        ("Hi, please book Friday", "book Friday", 1.0),
        ("book friday", "cancel friday", 1 / 3),
        ("alpha", "beta", 0.0),
        ("", "", 1.0),
    ],
)
def test_jaccard_on_word_sets(a: str, b: str, expected: float) -> None:
    assert jaccard(word_set(a), word_set(b)) == pytest.approx(expected)


def test_word_set_keeps_meaningful_words() -> None:
    assert word_set("Please do NOT book 3 rooms") == {"do", "not", "book", "3", "rooms"}


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([1.0, 0.0], [1.0, 0.0], 1.0),
        ([1.0, 0.0], [0.0, 2.0], 0.0),
        ([1.0, 1.0], [-1.0, -1.0], -1.0),
        ([3.0, 4.0], [4.0, 3.0], 24 / 25),
        ([0.0, 0.0], [1.0, 0.0], 0.0),
    ],
)
def test_cosine(a: list[float], b: list[float], expected: float) -> None:
    assert math.isclose(cosine(a, b), expected, abs_tol=1e-12)


def test_cosine_needs_equal_lengths() -> None:
    with pytest.raises(ValueError, match="different lengths"):
        cosine([1.0], [1.0, 2.0])
