from __future__ import annotations

import pytest

from steadyllm.policy.query_class import RuleClassifier, last_user_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What time do you open?", "simple"),
        ("hello", "simple"),
        ("Is the pool heated?", "simple"),
        ("Explain the trade-offs between these two booking plans for a family of five.", "complex"),
        ("Why does this fail?\n```python\ndef f(x):\n    return x[0]\n```", "complex"),
        ("Compare the rooms. Which is quieter? Which is cheaper?", "complex"),
        ("word " * 120, "complex"),
    ],
)
def test_rules(text: str, expected: str) -> None:
    assert RuleClassifier().classify(text) == expected


def test_last_user_text_reads_strings_and_parts() -> None:
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
    ]
    assert last_user_text(messages) == "second"
    assert last_user_text("nope") == ""
