"""The safety runtime one gateway holds: policies per model, the log, caches.

Built in ``Gateway.start`` (:meth:`Safety.open`) and shared by the three stages
(``guard_in``, ``validate``, ``guard_out``) and the control-plane API.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from steadyllm.call import Call
from steadyllm.errors import UpstreamFailure
from steadyllm.policy.injection import Source, Verdict, scan
from steadyllm.policy.leak import PromptFingerprint
from steadyllm.policy.pii import redact_pii
from steadyllm.safety.log import MemorySafetyLog, SafetyEvent, SafetyLog, SafetyLogStore
from steadyllm.safety.settings import SafetyPolicy, SafetySettings
from steadyllm.stores import Stores

__all__ = ["AnswerRejected", "Safety", "message_text", "system_text"]

_FINGERPRINTS = 256
_VERDICTS = 4096


class AnswerRejected(UpstreamFailure):
    """An answer that failed validation or an output check: a failure of that attempt.

    ``kind`` is ``invalid``, so breakers count it. ``retryable`` is true only when the
    route allows failing over: retries and fallbacks leave a non-retryable failure
    alone, and the client gets 502 with the reasons in the message.
    """

    def __init__(
        self,
        message: str,
        *,
        deployment: str | None,
        failover: bool,
        code: str = "invalid_response",
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, kind="invalid", deployment=deployment, code=code)
        self.failover = failover
        self.errors = errors or []

    @property
    def retryable(self) -> bool:
        return self.failover


def message_text(message: Mapping[str, Any]) -> str:
    """The text of one chat message (string content, or its text parts joined)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return ""


def system_text(body: Mapping[str, Any]) -> str:
    """The system and developer messages of a request, joined by newlines."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    return "\n".join(
        message_text(m)
        for m in messages
        if isinstance(m, dict) and m.get("role") in ("system", "developer")
    )


def conversation_of(call: Call) -> str | None:
    metadata = call.metadata
    return (
        metadata.get("conversation_id")
        or metadata.get("conversationId")
        or metadata.get("session_id")
        or call.principal.user
    )


class Safety:
    def __init__(
        self, settings: SafetySettings, log: SafetyLog, *, models: list[str] | None = None
    ) -> None:
        self.settings = settings
        self.log = log
        self.metrics = log.metrics
        self._default = settings.policy_for("")
        names = set(settings.models) | set(models or ())
        self._policies = {name: settings.policy_for(name) for name in names}
        self.canary = settings.output.canary or f"sl-canary-{secrets.token_hex(6)}"
        self._fingerprints: OrderedDict[tuple[str, tuple[str, ...]], PromptFingerprint] = (
            OrderedDict()
        )
        self._verdicts: OrderedDict[tuple[int, int, str, int], Verdict] = OrderedDict()

    @classmethod
    async def open(cls, settings: SafetySettings, stores: Stores, models: list[str]) -> Safety:
        store: SafetyLogStore
        if stores.database is not None:
            from steadyllm.safety.sql import SqlSafetyLog

            store = SqlSafetyLog(stores.database)
        else:
            store = MemorySafetyLog()
        log = SafetyLog(store, settings.log)
        log.start()
        return cls(settings, log, models=models)

    async def stop(self, timeout: float = 10.0) -> None:
        await self.log.stop(timeout)
        await self.log.store.close()

    def policy(self, model: str) -> SafetyPolicy:
        return self._policies.get(model, self._default)

    # --- cached pure work --------------------------------------------------------------------

    def scan(self, text: str, *, source: Source, max_chars: int) -> Verdict:
        """:func:`~steadyllm.policy.injection.scan`, remembered for repeated history messages."""
        key = (hash(text), len(text), source, max_chars)
        found = self._verdicts.get(key)
        if found is not None:
            self._verdicts.move_to_end(key)
            return found
        verdict = scan(text, source=source, max_chars=max_chars)
        self._verdicts[key] = verdict
        if len(self._verdicts) > _VERDICTS:
            self._verdicts.popitem(last=False)
        return verdict

    def fingerprint(self, system_prompt: str, canaries: tuple[str, ...]) -> PromptFingerprint:
        key = (system_prompt, canaries)
        found = self._fingerprints.get(key)
        if found is not None:
            self._fingerprints.move_to_end(key)
            return found
        found = PromptFingerprint.of(system_prompt, canaries=canaries)
        self._fingerprints[key] = found
        if len(self._fingerprints) > _FINGERPRINTS:
            self._fingerprints.popitem(last=False)
        return found

    # --- recording ------------------------------------------------------------------------------

    def violation(
        self,
        call: Call,
        *,
        check_type: str,
        violation_type: str,
        action: str,
        blocked: bool,
        score: float | None = None,
        message: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        """Note a violation on the call (``call.notes["safety"]``) and in the safety log."""
        notes = call.notes.setdefault("safety", [])
        notes.append(
            {"check": check_type, "violation": violation_type, "action": action, "score": score}
        )
        settings = self.settings.log
        text = message[: settings.message_chars]
        if settings.redact_pii and text:
            text, _ = redact_pii(text)
        self.log.record(
            SafetyEvent(
                id=uuid.uuid4().hex,
                created_at=time.time(),
                request_id=call.request_id,
                check_type=check_type,
                violation_type=violation_type,
                action=action,
                blocked=blocked,
                model=call.model,
                tenant=call.principal.tenant,
                conversation=conversation_of(call),
                score=score,
                message=text,
                details=details or {},
            )
        )
