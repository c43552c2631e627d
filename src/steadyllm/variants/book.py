"""Applying a variant to a request body: system prompt, model, parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from steadyllm.errors import InvalidRequest
from steadyllm.variants.settings import VariantDefinition

__all__ = ["PromptSource", "VariantBook"]


class PromptSource(Protocol):
    """The lifecycle registry's active prompt version of a variant."""

    async def active_prompt(self, variant: str) -> str | None: ...


class VariantBook:
    """The configured variants; ``apply`` returns a new body (the caller's is untouched)."""

    def __init__(
        self,
        definitions: Mapping[str, VariantDefinition],
        prompts: PromptSource | None = None,
    ) -> None:
        self.definitions = dict(definitions)
        self.prompts = prompts

    def __contains__(self, name: object) -> bool:
        return name in self.definitions

    async def definition(self, name: str) -> tuple[VariantDefinition, str | None] | None:
        """The definition of ``name`` and its system prompt.

        A name that is not configured but that the prompt registry knows (a candidate
        version such as ``professional_v3`` under test) borrows the model and
        parameters of its base variant (``professional``) when that one is configured.
        """
        definition = self.definitions.get(name)
        if definition is not None:
            return definition, await self.system_prompt(name)
        if self.prompts is None:
            return None
        prompt = await self.prompts.active_prompt(name)
        if prompt is None:
            return None
        base = self.definitions.get(name.rsplit("_v", 1)[0])
        return (base or VariantDefinition()), prompt

    async def system_prompt(self, name: str) -> str | None:
        definition = self.definitions[name]
        if definition.prompt is not None and self.prompts is not None:
            prompt = await self.prompts.active_prompt(definition.prompt.version_of)
            if prompt is not None:
                return prompt
        return definition.system_prompt

    async def apply(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        found = await self.definition(name)
        if found is None:
            raise InvalidRequest(
                f"Unknown variant {name!r} (known: {', '.join(sorted(self.definitions))}).",
                param="variant",
            )
        definition, prompt = found
        new = dict(body)
        if definition.model is not None:
            new["model"] = definition.model
        for key, value in definition.params.items():
            new[key] = value
        if prompt is not None and isinstance(body.get("messages"), list):
            messages = [m for m in body["messages"] if not _is_system(m)]
            new["messages"] = [{"role": "system", "content": prompt}, *messages]
        return new


def _is_system(message: Any) -> bool:
    return isinstance(message, dict) and message.get("role") in ("system", "developer")
