import random
from collections import Counter

from steadyllm.policy.weighted import weighted_order


def test_single_and_empty() -> None:
    rng = random.Random(1)
    assert weighted_order([], rng) == []
    assert weighted_order([5.0], rng) == [0]


def test_is_a_permutation() -> None:
    rng = random.Random(2)
    for _ in range(100):
        assert sorted(weighted_order([1.0, 2.0, 3.0, 0.5], rng)) == [0, 1, 2, 3]


def test_first_pick_follows_weights() -> None:
    rng = random.Random(3)
    firsts = Counter(weighted_order([1.0, 3.0], rng)[0] for _ in range(20_000))
    share = firsts[1] / 20_000
    assert 0.73 < share < 0.77  # expected 0.75
