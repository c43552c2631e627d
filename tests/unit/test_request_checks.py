from typing import Any

import pytest

from steadyllm.errors import InvalidRequest
from steadyllm.openai_request import check_chat_request, check_embeddings_request, take_metadata

OK: dict[str, Any] = {"model": "fast", "messages": [{"role": "user", "content": "hi"}]}


def test_minimal_chat_passes() -> None:
    assert check_chat_request(dict(OK)) == OK


def test_assistant_with_tool_calls_needs_no_content() -> None:
    body = {
        "model": "fast",
        "messages": [
            {"role": "user", "content": "book it"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
            {"role": "tool", "tool_call_id": "1", "content": "done"},
        ],
    }
    check_chat_request(body)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([], None),
        ({"messages": OK["messages"]}, "model"),
        ({"model": 3, "messages": OK["messages"]}, "model"),
        ({"model": "fast"}, "messages"),
        ({"model": "fast", "messages": []}, "messages"),
        ({"model": "fast", "messages": ["hi"]}, "messages[0]"),
        ({"model": "fast", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"model": "fast", "messages": [{"role": "user"}]}, "messages[0].content"),
        ({"model": "fast", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({**OK, "temperature": "hot"}, "temperature"),
        ({**OK, "temperature": 3}, "temperature"),
        ({**OK, "temperature": True}, "temperature"),
        ({**OK, "max_tokens": 0}, "max_tokens"),
        ({**OK, "max_tokens": 1.5}, "max_tokens"),
        ({**OK, "n": 0}, "n"),
        ({**OK, "stream": "yes"}, "stream"),
        ({**OK, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({**OK, "seed": "1"}, "seed"),
        ({**OK, "tools": "search"}, "tools"),
        ({**OK, "response_format": {"type": "xml"}}, "response_format"),
        ({**OK, "metadata": ["a"]}, "metadata"),
    ],
)
def test_bad_chat_bodies_name_the_field(body: Any, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_chat_request(body)
    assert caught.value.param == param
    assert caught.value.http_status == 400


@pytest.mark.parametrize(
    "value",
    [None, "", [], [1, "a"], 5, [["a"]]],
)
def test_bad_embedding_inputs(value: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_embeddings_request({"model": "embed", "input": value})
    assert caught.value.param == "input"


@pytest.mark.parametrize("value", ["hello", ["a", "b"], [1, 2, 3], [[1, 2], [3]]])
def test_good_embedding_inputs(value: Any) -> None:
    check_embeddings_request({"model": "embed", "input": value})


def test_metadata_is_taken_out_of_the_body() -> None:
    body = {**OK, "metadata": {"conversation_id": "c1", "n": 3}}
    assert take_metadata(body) == {"conversation_id": "c1", "n": "3"}
    assert "metadata" not in body
