"""Request shapes the fuzz run on ``/v1/`` turned into 500s (regressions).

- ``"content": [null]`` passed the request check, then the response cache's key
  builder did ``set(parts[0])`` on ``None``;
- ``"role": []`` (or any list or object) was looked up in a frozenset: unhashable;
- ``/v1/messages`` with ``"tool_choice": {"type": []}``: the same, in a dict lookup.
"""

from __future__ import annotations

from typing import Any

import pytest

from steadyllm.errors import InvalidRequest
from steadyllm.openai_request import check_chat_request
from steadyllm.translate.anthropic import messages_request_to_openai


@pytest.mark.parametrize("parts", [[None], ["hi"], [{"type": "text", "text": "a"}, 3], [[]]])
def test_a_part_that_is_not_an_object_is_refused(parts: list[Any]) -> None:
    body = {
        "model": "fast",
        "messages": [{"role": "user", "content": "x"}, {"role": "user", "content": parts}],
    }
    with pytest.raises(InvalidRequest) as refused:
        check_chat_request(body)
    assert refused.value.param == "messages[1].content"


def test_object_parts_and_empty_lists_pass() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "u"}}]
    check_chat_request({"model": "fast", "messages": [{"role": "user", "content": parts}]})
    check_chat_request({"model": "fast", "messages": [{"role": "user", "content": []}]})


@pytest.mark.parametrize("role", [[], ["user"], {"a": 1}, 1, None])
def test_a_role_that_is_not_a_string_is_refused(role: Any) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_chat_request({"model": "fast", "messages": [{"role": role, "content": "x"}]})
    assert refused.value.param == "messages[0].role"


@pytest.mark.parametrize("kind", [[], ["auto"], {"a": 1}, 3])
def test_an_anthropic_tool_choice_type_that_is_not_a_string_is_refused(kind: Any) -> None:
    body = {
        "model": "claude",
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": kind},
    }
    with pytest.raises(InvalidRequest) as refused:
        messages_request_to_openai(body)
    assert refused.value.param == "tool_choice.type"
