"""JSON repair: what is fixed, and what is deliberately not."""

from __future__ import annotations

import pytest

from steadyllm.policy.json_repair import extract_json, repair_json


@pytest.mark.parametrize(
    ("text", "value", "steps"),
    [
        ('{"a": 1}', {"a": 1}, ()),
        ('  {"a": [1, 2]}\n', {"a": [1, 2]}, ()),
        ('Sure! Here: {"slot": "15:00", "ok": true} Anything else?', {"slot": "15:00", "ok": True},
         ("extracted",)),
        ('{"a": [1, 2,],}', {"a": [1, 2]}, ("syntax",)),
        ("```json\n{'a': True, 'b': None, c: 'it\\'s'}\n```", {"a": True, "b": None, "c": "it's"},
         ("code_fence", "syntax")),
        ('[simulated] Re: "{"slot":"15:00","confirmed":true,}" more words',
         {"slot": "15:00", "confirmed": True}, ("extracted", "syntax")),
        ('{"a": 1 /* note */, "b": 2 // trailing\n}', {"a": 1, "b": 2}, ("syntax",)),
        ("\u201c{\u201ca\u201d: \u201cb\u201d}\u201d", {"a": "b"}, ("extracted",)),
        ("{'q': 'say \"hi\"'}", {"q": 'say "hi"'}, ("syntax",)),
    ],
)  # fmt: skip
def test_repairable(text: str, value: object, steps: tuple[str, ...]) -> None:
    repaired = repair_json(text)
    assert repaired is not None
    assert repaired.value == value
    assert repaired.steps == steps


@pytest.mark.parametrize(
    "text",
    [
        '{"simulated": true, "reply": "deliberately invalid JSON',  # truncated: never completed
        '{"a": [1, 2',
        "no json here at all",
        "[simulated] nothing",
        "",
    ],
)
def test_not_repairable(text: str) -> None:
    assert repair_json(text) is None


def test_extract_takes_the_first_balanced_json() -> None:
    assert extract_json('x [not json] then {"a": {"b": 1}} and {"c": 2}') == '{"a": {"b": 1}}'
    assert extract_json('brace in a string: {"a": "}"}') == '{"a": "}"}'
    assert extract_json("nothing") is None
