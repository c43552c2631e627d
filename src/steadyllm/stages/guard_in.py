"""Stage ``guard_in``: prompt-injection and jailbreak rules on the input.

After ``limit``, before ``cache``: a blocked request never reaches the cache or an
upstream. User messages (the whole history, or only the last, per
``safety.input.scan_history``) and tool results are scored by
:mod:`steadyllm.policy.injection`. Per model, a violation is

- ``block``: 400 ``invalid_request_error`` whose ``code`` names the violation
  (``prompt_injection``, ``jailbreak``, ``prompt_extraction``);
- ``flag``: passed on, noted in ``call.notes["safety"]`` and the safety log;
- ``sanitize``: the matching spans are cut out of a copy of the body, which goes on.
"""

from __future__ import annotations

from typing import Any

from steadyllm.call import Call, Response
from steadyllm.errors import InvalidRequest
from steadyllm.pipeline import Handler
from steadyllm.policy.injection import Source, Verdict, sanitize
from steadyllm.safety.service import Safety, message_text

__all__ = ["GuardInStage"]

_TOOL_ROLES = ("tool", "function")


class GuardInStage:
    name = "guard_in"

    def __init__(self, safety: Safety) -> None:
        self._safety = safety

    async def __call__(self, call: Call, call_next: Handler) -> Response:
        safety = self._safety
        if call.kind != "chat" or not safety.settings.enabled or call.notes.get("internal"):
            return await call_next(
                call
            )  # internal: the gateway's own calls (Gateway._internal_chat)
        settings = safety.policy(call.model).input
        if settings.action == "off":
            return await call_next(call)
        messages = call.body.get("messages")
        if not isinstance(messages, list):
            return await call_next(call)
        safety.log.count("input")
        found: list[tuple[int, Source, Verdict]] = []
        for index, source in self._targets(
            messages, settings.scan_history, settings.scan_tool_results
        ):
            text = message_text(messages[index])
            if not text:
                continue
            verdict = safety.scan(text, source=source, max_chars=settings.max_scan_chars)
            if verdict.violates(settings.threshold):
                found.append((index, source, verdict))
        if not found:
            return await call_next(call)
        index, source, worst = max(found, key=lambda item: item[2].score)
        violation = worst.violation_type or "prompt_injection"
        details = {
            "message_index": index,
            "source": source,
            "rules": list(worst.rule_names),
            "messages": len(found),
        }
        text = message_text(messages[index])
        if settings.action == "block":
            safety.violation(
                call,
                check_type="input",
                violation_type=violation,
                action="blocked",
                blocked=True,
                score=worst.score,
                message=text,
                details=details,
            )
            raise InvalidRequest(
                f"The request was refused by the input safety check: messages[{index}] looks "
                f"like {violation.replace('_', ' ')} (score {worst.score:.2f}).",
                code=violation,
                param=f"messages[{index}]",
            )
        if settings.action == "sanitize":
            call.body = self._sanitized(
                call.body, [i for i, _, _ in found], settings.max_scan_chars
            )
        safety.violation(
            call,
            check_type="input",
            violation_type=violation,
            action="sanitized" if settings.action == "sanitize" else "flagged",
            blocked=False,
            score=worst.score,
            message=text,
            details=details,
        )
        return await call_next(call)

    @staticmethod
    def _targets(messages: list[Any], history: bool, tools: bool) -> list[tuple[int, Source]]:
        targets: list[tuple[int, Source]] = []
        last_user = None
        for index, message in enumerate(messages):
            if not isinstance(message, dict):
                continue
            role = message.get("role")
            if role == "user":
                last_user = index
                if history:
                    targets.append((index, "user"))
            elif tools and role in _TOOL_ROLES:
                targets.append((index, "tool"))
        if not history and last_user is not None:
            targets.append((last_user, "user"))
        return targets

    @staticmethod
    def _sanitized(body: dict[str, Any], indices: list[int], max_chars: int) -> dict[str, Any]:
        """A copy of ``body`` with the matching spans cut from ``messages[indices]``."""
        messages = list(body["messages"])
        for index in indices:
            message = dict(messages[index])
            content = message.get("content")
            if isinstance(content, str):
                message["content"] = sanitize(content, max_chars=max_chars)[0]
            elif isinstance(content, list):
                parts = []
                for part in content:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        part = {**part, "text": sanitize(part["text"], max_chars=max_chars)[0]}
                    parts.append(part)
                message["content"] = parts
            messages[index] = message
        return {**body, "messages": messages}
