"""Failure analysis and prompt diffs: pure tables."""

from __future__ import annotations

import pytest

from steadyllm.policy.diff import diff_prompts
from steadyllm.policy.failure_analysis import FailedConversation, analyze_failures


def test_failure_patterns_counts_shares_and_messages() -> None:
    failures = [
        FailedConversation("That is too expensive for me", 4),
        FailedConversation("No slots available this week", 6),
        FailedConversation("I don't understand your answer", 2),
        FailedConversation("Error: request timeout", 3),
        FailedConversation("The price is fine but nothing is available", 5),
        FailedConversation("bye", 1),
    ]
    result = analyze_failures(failures)
    assert result.counts == {
        "pricing": 2,
        "availability": 2,
        "unclear_response": 1,
        "technical_error": 1,
        "other": 1,
    }
    assert result.shares["pricing"] == pytest.approx(2 / 6)
    assert result.avg_messages_before_failure == pytest.approx(21 / 6)
    assert result.to_json()["patterns"]["availability"] == {"count": 2, "share": 2 / 6}


def test_no_failures() -> None:
    result = analyze_failures([])
    assert result.total == 0
    assert result.avg_messages_before_failure == 0.0


def test_diff_lines() -> None:
    diff = diff_prompts("a\nb\nc", "a\nB\nc\nd")
    assert diff.removed == ("b",)
    assert diff.added == ("B", "d")
    assert diff.length_difference == 2
    assert diff_prompts("same", "same").unified == ""
