from __future__ import annotations

import pytest

from steadyllm.policy.assignment import assign, bucket, in_sample

ARMS = [("baseline", 1.0), ("casual", 1.0)]


def test_the_same_subject_always_gets_the_same_arm() -> None:
    first = [assign("exp1", f"conv-{i}", ARMS) for i in range(200)]
    again = [assign("exp1", f"conv-{i}", ARMS) for i in range(200)]
    assert first == again


def test_weights_split_the_subjects() -> None:
    arms = [("a", 9.0), ("b", 1.0)]
    picks = [assign("exp", f"user-{i}", arms) for i in range(20_000)]
    assert picks.count("b") / len(picks) == pytest.approx(0.1, abs=0.01)


def test_experiments_are_independent() -> None:
    same = sum(assign("x", f"s{i}", ARMS) == assign("y", f"s{i}", ARMS) for i in range(4000))
    assert same / 4000 == pytest.approx(0.5, abs=0.04)


def test_raising_the_sample_keeps_everyone_already_in() -> None:
    subjects = [f"s{i}" for i in range(2000)]
    ten = {s for s in subjects if in_sample("shadow", s, 10)}
    twenty = {s for s in subjects if in_sample("shadow", s, 20)}
    assert ten <= twenty
    assert len(ten) / 2000 == pytest.approx(0.1, abs=0.025)
    assert all(in_sample("shadow", s, 100) for s in subjects)


def test_bucket_is_in_unit_interval_and_an_empty_arm_list_is_refused() -> None:
    assert 0.0 <= bucket("a", "b") < 1.0
    with pytest.raises(ValueError, match="at least one arm"):
        assign("x", "y", [])
