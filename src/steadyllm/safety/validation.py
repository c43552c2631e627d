"""Response validation: what an answer must be, and the typed result of checking it.

An :class:`Expectation` is read from the request once (``expectation_for``): whether
the answer must be JSON, the JSON Schema it must satisfy (``response_format``
``json_schema``, or the route's configured schema), the size limit, whether HTML
is stripped, and the tools' parameter schemas. :func:`validate_text` and
:func:`validate_tool_arguments` check one answer and return a
:class:`ValidationResult`: ``is_valid``, the sanitized ``content`` and typed
``errors`` (``error_type``, ``message``, ``recoverable``).

This module owns ``jsonschema``: validators are built once per distinct schema and
kept in a bounded map.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from jsonschema import exceptions as schema_exceptions
from jsonschema import validators

from steadyllm.errors import InvalidRequest
from steadyllm.policy.json_repair import repair_json
from steadyllm.safety.sanitize import strip_html, strip_html_values
from steadyllm.safety.settings import ValidationSettings

__all__ = [
    "ErrorType",
    "Expectation",
    "ValidationIssue",
    "ValidationResult",
    "expectation_for",
    "validate_text",
    "validate_tool_arguments",
]

ErrorType = Literal[
    "invalid_json",  # not JSON (after repair, when repair is on)
    "schema_mismatch",  # JSON, but not valid for the schema
    "not_an_object",  # json_object asked, something else came
    "too_large",  # longer than max_response_chars
    "truncated",  # cut by max_tokens while JSON was expected
    "empty",  # no content where JSON was expected
    "invalid_tool_arguments",  # a tool call's arguments are not valid for the tool
]
_MAX_ERRORS = 5
_MAX_VALIDATORS = 256


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    error_type: ErrorType
    message: str
    recoverable: bool = True  # re-asking or another deployment may produce a valid answer
    path: str | None = None  # where in the JSON, e.g. "$.slots[0].start"

    def to_dict(self) -> dict[str, Any]:
        return {
            "error_type": self.error_type,
            "message": self.message,
            "recoverable": self.recoverable,
            "path": self.path,
        }


@dataclass(frozen=True, slots=True)
class ValidationResult:
    is_valid: bool
    content: str | None  # the answer as it may be sent: repaired and sanitized
    errors: tuple[ValidationIssue, ...] = ()
    repaired: tuple[str, ...] = ()  # the repair steps taken, if any
    sanitized: bool = False  # HTML was stripped

    @property
    def recoverable(self) -> bool:
        return all(error.recoverable for error in self.errors)

    def describe(self) -> str:
        return "; ".join(
            f"{e.error_type}{f' at {e.path}' if e.path else ''}: {e.message}" for e in self.errors
        )


@dataclass(frozen=True, slots=True)
class Expectation:
    """What one request's answer must be; built once per call."""

    json: bool = False
    schema: dict[str, Any] | None = None
    schema_name: str | None = None
    max_chars: int = 0
    sanitize_html: bool = True
    tool_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def structured(self) -> bool:
        return self.json or bool(self.tool_schemas)


# --- schemas ---------------------------------------------------------------------------

_VALIDATORS: OrderedDict[bytes, Any] = OrderedDict()


def _validator(schema: dict[str, Any]) -> Any:
    key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    found = _VALIDATORS.get(key)
    if found is not None:
        _VALIDATORS.move_to_end(key)
        return found
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    found = cls(schema)
    _VALIDATORS[key] = found
    if len(_VALIDATORS) > _MAX_VALIDATORS:
        _VALIDATORS.popitem(last=False)
    return found


def check_schema(schema: dict[str, Any], *, param: str) -> None:
    """Raise ``InvalidRequest`` when a client's schema is not a valid JSON Schema."""
    try:
        _validator(schema)
    except schema_exceptions.SchemaError as exc:
        raise InvalidRequest(
            f"The JSON schema is not valid: {exc.message}", code="invalid_schema", param=param
        ) from None


def _path(error: Any) -> str:
    parts = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return "$" + parts


def _schema_issues(value: Any, schema: dict[str, Any]) -> list[ValidationIssue]:
    validator = _validator(schema)
    issues = []
    for error in validator.iter_errors(value):
        issues.append(ValidationIssue("schema_mismatch", error.message, True, _path(error)))
        if len(issues) >= _MAX_ERRORS:
            break
    return issues


# --- the expectation of one request ---------------------------------------------------------


def expectation_for(body: dict[str, Any], settings: ValidationSettings) -> Expectation:
    """Read what the answer to ``body`` must be (raises ``InvalidRequest`` for a bad schema)."""
    response_format = body.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    json_wanted = False
    schema: dict[str, Any] | None = None
    name: str | None = None
    if settings.json_mode != "never":
        if kind == "json_schema":
            spec = (
                response_format.get("json_schema") or {}
                if isinstance(response_format, dict)
                else {}
            )
            json_wanted = True
            raw = spec.get("schema") if isinstance(spec, dict) else None
            if isinstance(raw, dict) and raw:
                schema = raw
                check_schema(schema, param="response_format")
            name = spec.get("name") if isinstance(spec, dict) else None
        elif kind == "json_object":
            json_wanted = True
        if settings.json_mode == "always":
            json_wanted = True
        if schema is None and json_wanted and settings.json_schema is not None:
            schema = settings.json_schema
    tool_schemas: dict[str, dict[str, Any]] = {}
    if settings.tool_arguments and isinstance(body.get("tools"), list):
        for tool in body["tools"]:
            function = tool.get("function") if isinstance(tool, dict) else None
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                parameters = function.get("parameters")
                tool_schemas[function["name"]] = parameters if isinstance(parameters, dict) else {}
                if isinstance(parameters, dict) and parameters:
                    check_schema(parameters, param="tools")
    return Expectation(
        json=json_wanted,
        schema=schema,
        schema_name=name if isinstance(name, str) else None,
        max_chars=settings.max_response_chars,
        sanitize_html=settings.sanitize_html,
        tool_schemas=tool_schemas,
    )


# --- checking an answer ----------------------------------------------------------------------


def validate_text(
    text: str | None,
    expectation: Expectation,
    *,
    repair: bool = True,
    finish_reason: str | None = None,
) -> ValidationResult:
    """Check one answer's text against ``expectation``; repair and sanitize when allowed."""
    if text is None:
        text = ""
    if expectation.max_chars and len(text) > expectation.max_chars:
        issue = ValidationIssue(
            "too_large",
            f"the answer has {len(text)} characters; the limit is {expectation.max_chars}",
        )
        return ValidationResult(False, None, (issue,))
    if not expectation.json:
        if expectation.sanitize_html:
            cleaned, changed = strip_html(text)
            return ValidationResult(True, cleaned, sanitized=changed)
        return ValidationResult(True, text)
    if not text.strip():
        return ValidationResult(False, None, (ValidationIssue("empty", "the answer is empty"),))
    steps: tuple[str, ...] = ()
    try:
        value = orjson.loads(text)
        content = text
    except orjson.JSONDecodeError as exc:
        repaired = repair_json(text) if repair else None
        if repaired is None:
            error_type: ErrorType = "truncated" if finish_reason == "length" else "invalid_json"
            message = f"the answer is not valid JSON ({exc})"
            if error_type == "truncated":
                message = "the answer was cut at max_tokens before its JSON was complete"
            return ValidationResult(False, None, (ValidationIssue(error_type, message),))
        value, content, steps = repaired.value, repaired.text, repaired.steps
    if expectation.schema is None and not isinstance(value, dict):
        issue = ValidationIssue(
            "not_an_object", f"expected a JSON object, got {type(value).__name__}"
        )
        return ValidationResult(False, None, (issue,), steps)
    if expectation.schema is not None:
        issues = _schema_issues(value, expectation.schema)
        if issues:
            return ValidationResult(False, None, tuple(issues), steps)
    sanitized = False
    if expectation.sanitize_html:
        value, sanitized = strip_html_values(value)
        if sanitized:
            content = orjson.dumps(value).decode()
    return ValidationResult(True, content, (), steps, sanitized)


def validate_tool_arguments(
    name: str, arguments: str | None, expectation: Expectation, *, repair: bool = True
) -> ValidationResult:
    """Check one tool call's ``arguments`` (JSON text) against the tool's parameters."""
    text = arguments or "{}"
    steps: tuple[str, ...] = ()
    try:
        value = orjson.loads(text)
        content = text
    except orjson.JSONDecodeError as exc:
        repaired = repair_json(text) if repair else None
        if repaired is None:
            issue = ValidationIssue(
                "invalid_tool_arguments", f"the arguments of tool {name!r} are not JSON ({exc})"
            )
            return ValidationResult(False, None, (issue,))
        value, content, steps = repaired.value, repaired.text, repaired.steps
    schema = expectation.tool_schemas.get(name)
    if schema is None:
        issue = ValidationIssue(
            "invalid_tool_arguments", f"the answer calls {name!r}, which the request did not offer"
        )
        return ValidationResult(False, None, (issue,), steps)
    if schema:
        issues = [
            ValidationIssue("invalid_tool_arguments", i.message, True, i.path)
            for i in _schema_issues(value, schema)
        ]
        if issues:
            return ValidationResult(False, None, tuple(issues), steps)
    return ValidationResult(True, content, (), steps)
