"""Stage ``validate``: JSON Schema, size limits and HTML sanitizing on every answer.

Inside ``breaker`` and around ``guard_out``: a failed validation is a failed
attempt. The expectation is read from the request (:mod:`steadyllm.safety.validation`);
on failure the route's ``recovery`` list decides, in order:

- ``repair``: extract the JSON from surrounding text, fix trailing commas and
  quotes (:mod:`steadyllm.policy.json_repair`); a repaired answer passes;
- ``reask``: call the model again (at most ``max_reasks`` times) with the bad answer
  and the validation errors appended to a copy of the messages;
- ``failover``: raise :class:`~steadyllm.safety.service.AnswerRejected` as retryable,
  so the breaker counts it and retry/fallback try another deployment;
- none left: the same error, not retryable: the client gets 502 with the errors.

An answer that fails never returns from here, so the cache (outside) never stores it.

Streams: when JSON is expected and ``stream_json`` is ``buffer`` (the default), the
whole stream is read first, validated (recovery included), then replayed; the client
sees nothing invalid, at the cost of time to first token. Otherwise chunks pass as
they come: HTML is stripped on the fly, the size limit ends the stream with an error
event as soon as it is crossed, and JSON is checked at the end: an invalid answer ends
with an error event instead of ``[DONE]`` (the client may have seen its text).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from steadyllm.call import Call, Response
from steadyllm.errors import Unprocessable
from steadyllm.pipeline import Handler
from steadyllm.safety.sanitize import StreamingStripper
from steadyllm.safety.service import AnswerRejected, Safety
from steadyllm.safety.validation import (
    Expectation,
    ValidationIssue,
    ValidationResult,
    expectation_for,
    validate_text,
    validate_tool_arguments,
)

__all__ = ["ValidateStage"]

_REASK_ANSWER_CHARS = 4000


@dataclass
class _Tool:
    name: str = ""
    arguments: str = ""


@dataclass
class _Choice:
    """One choice of an answer, whole (from a body or from collected chunks)."""

    text: str | None = None
    finish_reason: str | None = None
    tools: dict[int, _Tool] = field(default_factory=dict)


@dataclass
class _Outcome:
    texts: dict[int, str] = field(default_factory=dict)  # new content per choice
    arguments: dict[tuple[int, int], str] = field(default_factory=dict)  # per (choice, tool)
    issues: list[ValidationIssue] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    sanitized: bool = False

    @property
    def valid(self) -> bool:
        return not self.issues


class ValidateStage:
    name = "validate"

    def __init__(self, safety: Safety) -> None:
        self._safety = safety

    async def __call__(self, call: Call, call_next: Handler) -> Response:
        safety = self._safety
        if call.kind != "chat" or not safety.settings.enabled:
            return await call_next(call)
        settings = safety.policy(call.model).validation
        expectation = expectation_for(call.body, settings)
        if not (expectation.structured or expectation.sanitize_html or expectation.max_chars):
            return await call_next(call)
        safety.log.count("validation")
        original = call.body
        reasks = 0
        try:
            while True:
                response = await call_next(call)
                if response.chunks is not None:
                    if not (expectation.json and settings.stream_json == "buffer"):
                        response.chunks = self._watch(call, response, response.chunks, expectation)
                        return response
                    chunks = await self._collect(call, response, expectation)
                    choices = _choices_of_chunks(chunks)
                else:
                    chunks = None
                    choices = _choices_of_body(response.body)
                outcome = _check(choices, expectation, repair="repair" in settings.recovery)
                if outcome.valid:
                    self._note(call, outcome, reasks)
                    if chunks is not None:
                        response.chunks = _replay(_rewrite_chunks(chunks, outcome))
                    elif response.body is not None:
                        _rewrite_body(response.body, outcome)
                    return response
                answer = next((c.text for c in choices.values() if c.text), "") or ""
                if (
                    "reask" in settings.recovery
                    and reasks < settings.max_reasks
                    and all(issue.recoverable for issue in outcome.issues)
                ):
                    reasks += 1
                    self._violation(call, outcome, "reasked", False, answer)
                    call.body = _reask_body(original, answer, outcome.issues, expectation)
                    continue
                failover = "failover" in settings.recovery
                self._violation(call, outcome, "rejected", True, answer)
                if _cut_by_the_clients_limit(original, outcome.issues):
                    raise _too_few_tokens()
                raise _rejected(response.deployment, outcome.issues, failover=failover)
        finally:
            call.body = original

    # --- recording -----------------------------------------------------------------------

    def _violation(
        self, call: Call, outcome: _Outcome, action: str, blocked: bool, answer: str
    ) -> None:
        first = outcome.issues[0]
        self._safety.violation(
            call,
            check_type="validation",
            violation_type=first.error_type,
            action=action,
            blocked=blocked,
            message=answer,
            details={"errors": [issue.to_dict() for issue in outcome.issues]},
        )

    def _note(self, call: Call, outcome: _Outcome, reasks: int) -> None:
        if outcome.repaired:
            self._safety.violation(
                call,
                check_type="validation",
                violation_type="invalid_json",
                action="repaired",
                blocked=False,
                details={"steps": outcome.repaired},
            )
        if outcome.sanitized:
            self._safety.violation(
                call,
                check_type="validation",
                violation_type="html",
                action="sanitized",
                blocked=False,
            )
        if reasks or outcome.repaired or outcome.sanitized:
            call.notes["validation"] = {
                "reasks": reasks,
                "repaired": outcome.repaired,
                "sanitized": outcome.sanitized,
            }

    # --- streams -----------------------------------------------------------------------------

    async def _collect(
        self, call: Call, response: Response, expectation: Expectation
    ) -> list[dict[str, Any]]:
        """Read a whole stream (bounded by the size limit) before anything reaches the client."""
        assert response.chunks is not None
        chunks: list[dict[str, Any]] = []
        size = 0
        iterator = response.chunks
        try:
            async for chunk in iterator:
                chunks.append(chunk)
                for choice in chunk.get("choices") or ():
                    content = (choice.get("delta") or {}).get("content")
                    if isinstance(content, str):
                        size += len(content)
                if expectation.max_chars and size > expectation.max_chars:
                    issue = ValidationIssue(
                        "too_large", f"the answer exceeds {expectation.max_chars} characters"
                    )
                    self._violation(call, _Outcome(issues=[issue]), "rejected", True, "")
                    raise _rejected(response.deployment, [issue], failover=True)
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        return chunks

    async def _watch(
        self,
        call: Call,
        response: Response,
        source: AsyncIterator[dict[str, Any]],
        expectation: Expectation,
    ) -> AsyncIterator[dict[str, Any]]:
        """Pass a stream through: strip HTML, enforce the size, check JSON at the end."""
        strip = expectation.sanitize_html and not expectation.json
        strippers: dict[int, StreamingStripper] = {}
        sizes: dict[int, int] = {}
        texts: dict[int, list[str]] = {}
        tools: dict[tuple[int, int], _Tool] = {}
        finish: dict[int, str | None] = {}
        try:
            async for chunk in source:
                for choice in chunk.get("choices") or ():
                    index = int(choice.get("index") or 0)
                    delta = choice.get("delta") or {}
                    content = delta.get("content")
                    if isinstance(content, str) and content:
                        sizes[index] = sizes.get(index, 0) + len(content)
                        if expectation.max_chars and sizes[index] > expectation.max_chars:
                            issue = ValidationIssue(
                                "too_large",
                                f"the answer exceeds {expectation.max_chars} characters",
                            )
                            self._violation(call, _Outcome(issues=[issue]), "rejected", True, "")
                            raise _rejected(response.deployment, [issue], failover=False)
                        if expectation.json:
                            texts.setdefault(index, []).append(content)
                        if strip:
                            stripper = strippers.setdefault(index, StreamingStripper())
                            delta["content"] = stripper.feed(content)
                    for call_delta in delta.get("tool_calls") or ():
                        key = (index, int(call_delta.get("index") or 0))
                        tool = tools.setdefault(key, _Tool())
                        function = call_delta.get("function") or {}
                        tool.name += function.get("name") or ""
                        tool.arguments += function.get("arguments") or ""
                    if choice.get("finish_reason"):
                        finish[index] = choice["finish_reason"]
                        pending = strippers.get(index)
                        if pending is not None:
                            rest = pending.flush()
                            if rest:
                                delta["content"] = (delta.get("content") or "") + rest
                                choice["delta"] = delta
                yield chunk
            choices: dict[int, _Choice] = {}
            for index, parts in texts.items():
                choices.setdefault(index, _Choice()).text = "".join(parts)
            for (index, position), tool in tools.items():
                choices.setdefault(index, _Choice()).tools[position] = tool
            for index, reason in finish.items():
                choices.setdefault(index, _Choice()).finish_reason = reason
            if expectation.json and not choices:
                choices[0] = _Choice(text="")
            # What the client saw cannot be repaired any more: check it as sent.
            outcome = _check(choices, expectation, repair=False)
            if any(s.changed for s in strippers.values()):
                outcome.sanitized = True
            if not outcome.valid:
                answer = next((c.text for c in choices.values() if c.text), "") or ""
                self._violation(call, outcome, "rejected", True, answer)
                raise _rejected(response.deployment, outcome.issues, failover=False)
            self._note(call, outcome, 0)
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()


# --- checking ----------------------------------------------------------------------------------


def _choices_of_body(body: dict[str, Any] | None) -> dict[int, _Choice]:
    choices: dict[int, _Choice] = {}
    for position, choice in enumerate((body or {}).get("choices") or ()):
        if not isinstance(choice, dict):
            continue
        message = choice.get("message") or {}
        content = message.get("content")
        entry = _Choice(
            text=content if isinstance(content, str) else None,
            finish_reason=choice.get("finish_reason"),
        )
        for number, tool_call in enumerate(message.get("tool_calls") or ()):
            function = (tool_call or {}).get("function") or {}
            entry.tools[number] = _Tool(function.get("name") or "", function.get("arguments") or "")
        choices[int(choice.get("index", position) or 0)] = entry
    return choices


def _choices_of_chunks(chunks: list[dict[str, Any]]) -> dict[int, _Choice]:
    choices: dict[int, _Choice] = {}
    texts: dict[int, list[str]] = {}
    for chunk in chunks:
        for choice in chunk.get("choices") or ():
            index = int(choice.get("index") or 0)
            entry = choices.setdefault(index, _Choice())
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str):
                texts.setdefault(index, []).append(content)
            for call_delta in delta.get("tool_calls") or ():
                tool = entry.tools.setdefault(int(call_delta.get("index") or 0), _Tool())
                function = call_delta.get("function") or {}
                tool.name += function.get("name") or ""
                tool.arguments += function.get("arguments") or ""
            if choice.get("finish_reason"):
                entry.finish_reason = choice["finish_reason"]
    for index, parts in texts.items():
        choices[index].text = "".join(parts)
    return choices


def _check(choices: dict[int, _Choice], expectation: Expectation, *, repair: bool) -> _Outcome:
    outcome = _Outcome()

    def take(result: ValidationResult) -> bool:
        outcome.issues.extend(result.errors)
        outcome.repaired.extend(step for step in result.repaired if step not in outcome.repaired)
        outcome.sanitized = outcome.sanitized or result.sanitized
        return result.is_valid

    for index, choice in sorted(choices.items()):
        if choice.tools and expectation.tool_schemas:
            for position, tool in sorted(choice.tools.items()):
                result = validate_tool_arguments(
                    tool.name, tool.arguments, expectation, repair=repair
                )
                if take(result) and result.content is not None and result.content != tool.arguments:
                    outcome.arguments[(index, position)] = result.content
        if choice.tools and choice.text is None:
            continue  # a tool call answers instead of text
        result = validate_text(
            choice.text, expectation, repair=repair, finish_reason=choice.finish_reason
        )
        if take(result) and result.content is not None and result.content != (choice.text or ""):
            outcome.texts[index] = result.content
    return outcome


def _cut_by_the_clients_limit(body: dict[str, Any], issues: list[ValidationIssue]) -> bool:
    """JSON cut short at a ``max_tokens`` the client set: no deployment can do better."""
    limited = body.get("max_tokens") is not None or body.get("max_completion_tokens") is not None
    return limited and bool(issues) and all(i.error_type == "truncated" for i in issues)


def _too_few_tokens() -> Unprocessable:
    """The client's own limit cut the JSON: a 422 for the client, not a failed attempt of
    the deployment (no failover, nothing for its breaker to count)."""
    return Unprocessable(
        "The answer was cut at your max_tokens before its JSON was complete; allow more tokens.",
        code="max_tokens_too_small",
        param="max_tokens",
    )


def _rejected(
    deployment: str | None, issues: list[ValidationIssue], *, failover: bool
) -> AnswerRejected:
    described = "; ".join(
        f"{i.error_type}{f' at {i.path}' if i.path else ''}: {i.message}" for i in issues
    )
    return AnswerRejected(
        f"The answer from {deployment or 'the upstream'} failed validation: {described}",
        deployment=deployment,
        failover=failover,
        code="invalid_response",
        errors=[issue.to_dict() for issue in issues],
    )


# --- rewriting a valid answer ------------------------------------------------------------------


def _rewrite_body(body: dict[str, Any], outcome: _Outcome) -> None:
    for position, choice in enumerate(body.get("choices") or ()):
        index = int(choice.get("index", position) or 0)
        message = choice.get("message") or {}
        if index in outcome.texts:
            message["content"] = outcome.texts[index]
        for number, tool_call in enumerate(message.get("tool_calls") or ()):
            new = outcome.arguments.get((index, number))
            if new is not None:
                tool_call.setdefault("function", {})["arguments"] = new


def _rewrite_chunks(chunks: list[dict[str, Any]], outcome: _Outcome) -> list[dict[str, Any]]:
    """The collected chunks with changed content put whole into each choice's first piece."""
    if not outcome.texts and not outcome.arguments:
        return chunks
    placed: set[Any] = set()
    for chunk in chunks:
        for choice in chunk.get("choices") or ():
            index = int(choice.get("index") or 0)
            delta = choice.get("delta") or {}
            if index in outcome.texts and isinstance(delta.get("content"), str):
                delta["content"] = "" if index in placed else outcome.texts[index]
                placed.add(index)
            for call_delta in delta.get("tool_calls") or ():
                key = (index, int(call_delta.get("index") or 0))
                function = call_delta.get("function")
                if (
                    key in outcome.arguments
                    and isinstance(function, dict)
                    and "arguments" in function
                ):
                    function["arguments"] = "" if key in placed else outcome.arguments[key]
                    placed.add(key)
    return chunks


async def _replay(chunks: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for chunk in chunks:
        yield chunk


def _reask_body(
    original: dict[str, Any],
    answer: str,
    issues: list[ValidationIssue],
    expectation: Expectation,
) -> dict[str, Any]:
    """A copy of the request with the bad answer and what was wrong with it appended."""
    described = "; ".join(
        f"{i.error_type}{f' at {i.path}' if i.path else ''}: {i.message}" for i in issues
    )[:1000]
    if any(i.error_type == "too_large" for i in issues):
        ask = f"Answer again in fewer than {expectation.max_chars} characters."
    elif any(i.error_type == "invalid_tool_arguments" for i in issues):
        ask = "Call the tool again with arguments that are valid JSON for its parameters."
    elif expectation.schema is not None:
        ask = "Answer again with only a JSON value that is valid for the requested schema."
    else:
        ask = "Answer again with only a valid JSON object."
    messages = list(original.get("messages") or [])
    messages.append({"role": "assistant", "content": answer[:_REASK_ANSWER_CHARS]})
    messages.append(
        {"role": "user", "content": f"Your previous answer was not valid ({described}). {ask}"}
    )
    return {**original, "messages": messages}
