"""The ``safety`` section of the config, and its per-model overrides.

Everything has a default, so a config without ``safety`` runs with input rules
blocking at score 0.5, system-prompt leaks blocked, JSON validated whenever a
request asks for JSON, HTML stripped from answers, and the safety log on.

``safety.models`` overrides sections per model (the name clients send): only the
keys written there change; the rest come from the top level. They are merged once,
at startup (:meth:`SafetySettings.policy_for`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from steadyllm.policy.pii import PII_KINDS, PiiKind

__all__ = [
    "InputSafety",
    "OutputSafety",
    "SafetyLogSettings",
    "SafetyOverride",
    "SafetyPolicy",
    "SafetySettings",
    "ValidationSettings",
]

InputAction = Literal["block", "flag", "sanitize", "off"]
LeakAction = Literal["block", "redact", "flag", "off"]
Recovery = Literal["repair", "reask", "failover"]
_RECOVERY: tuple[Recovery, ...] = ("repair", "reask", "failover")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSafety(_Strict):
    """Prompt-injection and jailbreak rules on user messages and tool results."""

    action: InputAction = "block"
    threshold: float = Field(0.5, gt=0, le=1)  # a message scoring this or more violates
    scan_tool_results: bool = True  # also read role "tool"/"function" messages
    scan_history: bool = True  # every user message of the conversation, not only the last
    max_scan_chars: int = Field(100_000, gt=0)  # per message; the rest is not read


class OutputSafety(_Strict):
    """System-prompt leaks in answers, and optional PII redaction."""

    leak_action: LeakAction = "block"
    failover: bool = False  # a blocked leak may be retried elsewhere (default: 502 at once)
    min_overlap_words: int = Field(12, ge=5)  # copied words that make a verbatim leak
    paraphrase_ratio: float = Field(0.6, gt=0, le=1)  # share of the prompt's content words
    canary_tokens: list[str] = Field(default_factory=list)  # tokens your prompts carry
    plant_canary: bool = False  # append a canary line to the system prompt sent upstream
    canary: str | None = None  # the planted token; a random one per process when unset
    redact_pii: bool = False  # replace e-mails, phone and card numbers in answers
    pii_kinds: list[PiiKind] = Field(default_factory=lambda: list(PII_KINDS))


class ValidationSettings(_Strict):
    """What an answer must be, and what to do when it is not."""

    json_mode: Literal["auto", "always", "never"] = "auto"  # auto: when response_format asks
    json_schema: dict[str, Any] | None = None  # the route's own schema (``always`` applies it)
    max_response_chars: int = Field(200_000, ge=0)  # 0: no limit
    sanitize_html: bool = True  # strip tags and scripts from answer text (nh3)
    tool_arguments: bool = True  # tool-call arguments must be JSON valid for the tool's schema
    recovery: list[Recovery] = Field(default_factory=lambda: list(_RECOVERY))
    max_reasks: int = Field(1, ge=0, le=5)
    stream_json: Literal["buffer", "end"] = (
        "buffer"  # JSON streams: hold the answer, or check at end
    )


class SafetyPolicy(_Strict):
    """The sections a model may override."""

    input: InputSafety = InputSafety()
    output: OutputSafety = OutputSafety()
    validation: ValidationSettings = ValidationSettings()


class SafetyOverride(_Strict):
    input: InputSafety | None = None
    output: OutputSafety | None = None
    validation: ValidationSettings | None = None


class SafetyLogSettings(_Strict):
    enabled: bool = True
    max_queue: int = Field(10_000, gt=0)  # events held while the store is slow; then dropped
    batch_size: int = Field(200, gt=0)
    flush_interval: float = Field(1.0, gt=0)
    message_chars: int = Field(500, ge=0)  # how much of the offending text is kept
    redact_pii: bool = True  # e-mails, phone and card numbers never reach the log


class SafetySettings(SafetyPolicy):
    enabled: bool = True
    log: SafetyLogSettings = SafetyLogSettings()
    models: dict[str, SafetyOverride] = Field(default_factory=dict)

    def policy_for(self, model: str) -> SafetyPolicy:
        """The top-level sections with ``models[model]``'s keys written over them."""
        base = SafetyPolicy(input=self.input, output=self.output, validation=self.validation)
        override = self.models.get(model)
        if override is None:
            return base
        merged: dict[str, BaseModel] = {}
        for name in ("input", "output", "validation"):
            section: BaseModel | None = getattr(override, name)
            current: BaseModel = getattr(base, name)
            if section is not None:
                changes = {key: getattr(section, key) for key in section.model_fields_set}
                current = current.model_copy(update=changes)
            merged[name] = current
        return base.model_copy(update=merged)
