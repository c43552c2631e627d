"""Response validation: the expectation of a request and the typed result of a check."""

from __future__ import annotations

from typing import Any

import pytest

from steadyllm.errors import InvalidRequest
from steadyllm.safety.settings import ValidationSettings
from steadyllm.safety.validation import (
    Expectation,
    expectation_for,
    validate_text,
    validate_tool_arguments,
)

SLOT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"slot": {"type": "string"}, "confirmed": {"type": "boolean"}},
    "required": ["slot", "confirmed"],
    "additionalProperties": False,
}
JSON = Expectation(json=True)
SCHEMA = Expectation(json=True, schema=SLOT_SCHEMA)


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "fast", "messages": [{"role": "user", "content": "hi"}], **extra}


def test_expectation_from_response_format() -> None:
    settings = ValidationSettings()
    assert not expectation_for(body(), settings).json
    assert expectation_for(body(response_format={"type": "json_object"}), settings).json
    schema_format = {"type": "json_schema", "json_schema": {"name": "slot", "schema": SLOT_SCHEMA}}
    found = expectation_for(body(response_format=schema_format), settings)
    assert found.json
    assert found.schema == SLOT_SCHEMA
    assert found.schema_name == "slot"
    assert not expectation_for(body(response_format={"type": "text"}), settings).json


def test_route_schema_and_modes() -> None:
    always = ValidationSettings(json_mode="always", json_schema=SLOT_SCHEMA)
    assert expectation_for(body(), always).schema == SLOT_SCHEMA
    auto = ValidationSettings(json_schema=SLOT_SCHEMA)
    assert expectation_for(body(), auto).schema is None
    assert (
        expectation_for(body(response_format={"type": "json_object"}), auto).schema == SLOT_SCHEMA
    )
    never = ValidationSettings(json_mode="never")
    assert not expectation_for(body(response_format={"type": "json_object"}), never).json


def test_a_clients_invalid_schema_is_a_400() -> None:
    bad = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nonsense"}}}
    with pytest.raises(InvalidRequest) as caught:
        expectation_for(body(response_format=bad), ValidationSettings())
    assert caught.value.code == "invalid_schema"


def test_tool_schemas_are_collected() -> None:
    tools = [{"type": "function", "function": {"name": "book", "parameters": SLOT_SCHEMA}}]
    found = expectation_for(body(tools=tools), ValidationSettings())
    assert found.tool_schemas == {"book": SLOT_SCHEMA}
    assert not expectation_for(
        body(tools=tools), ValidationSettings(tool_arguments=False)
    ).structured


def test_valid_json_passes_unchanged() -> None:
    result = validate_text('{"slot": "15:00", "confirmed": true}', SCHEMA)
    assert result.is_valid
    assert result.errors == ()
    assert not result.repaired
    assert result.content == '{"slot": "15:00", "confirmed": true}'


def test_invalid_json_has_typed_recoverable_errors() -> None:
    result = validate_text('{"slot": "15:00", "confirmed": tr', SCHEMA, repair=False)
    assert not result.is_valid
    assert result.content is None
    (error,) = result.errors
    assert error.error_type == "invalid_json"
    assert error.recoverable
    assert error.message


def test_truncated_json_is_named_so() -> None:
    result = validate_text('{"slot": "15:0', SCHEMA, finish_reason="length")
    assert result.errors[0].error_type == "truncated"


def test_schema_mismatch_names_the_path() -> None:
    result = validate_text('{"slot": 15, "confirmed": true, "extra": 1}', SCHEMA)
    assert not result.is_valid
    assert {e.error_type for e in result.errors} == {"schema_mismatch"}
    assert "$.slot" in {e.path for e in result.errors}
    assert "schema_mismatch at $.slot" in result.describe()


def test_json_object_must_be_an_object() -> None:
    assert validate_text("[1, 2]", JSON).errors[0].error_type == "not_an_object"
    assert validate_text("   ", JSON).errors[0].error_type == "empty"


def test_repair_makes_an_answer_valid_and_says_how() -> None:
    result = validate_text('Here you go: {"slot": "15:00", "confirmed": true,}', SCHEMA)
    assert result.is_valid
    assert result.repaired == ("extracted", "syntax")
    assert result.content == '{"slot": "15:00", "confirmed": true}'
    assert not validate_text(
        'Here: {"slot": "15:00", "confirmed": true,}', SCHEMA, repair=False
    ).is_valid


def test_size_limit() -> None:
    limited = Expectation(max_chars=10)
    assert validate_text("short", limited).is_valid
    result = validate_text("x" * 11, limited)
    assert result.errors[0].error_type == "too_large"


def test_html_is_stripped_from_text_and_json_strings() -> None:
    text = validate_text("<b>Booked</b><script>x()</script>", Expectation())
    assert text.is_valid
    assert text.content == "Booked"
    assert text.sanitized
    value = validate_text('{"slot": "<i>15:00</i>", "confirmed": true}', SCHEMA)
    assert value.content == '{"slot":"15:00","confirmed":true}'
    assert value.sanitized
    raw = validate_text("<b>x</b>", Expectation(sanitize_html=False))
    assert raw.content == "<b>x</b>"
    assert not raw.sanitized


def test_tool_arguments() -> None:
    expectation = Expectation(tool_schemas={"book": SLOT_SCHEMA})
    assert validate_tool_arguments(
        "book", '{"slot": "9", "confirmed": false}', expectation
    ).is_valid
    bad = validate_tool_arguments("book", '{"slot": 9}', expectation)
    assert bad.errors[0].error_type == "invalid_tool_arguments"
    assert not validate_tool_arguments("book", '{"slot": "9", ', expectation).is_valid
    assert not validate_tool_arguments("cancel", "{}", expectation).is_valid
    fixed = validate_tool_arguments("book", "{'slot': '9', 'confirmed': False}", expectation)
    assert fixed.is_valid
    assert fixed.content == '{"slot": "9", "confirmed": false}'
