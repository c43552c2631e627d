from __future__ import annotations

import pytest

from steadyllm.errors import InvalidRequest
from steadyllm.variants.book import VariantBook
from steadyllm.variants.settings import PromptRef, VariantDefinition


class FakePrompts:
    def __init__(self, prompts: dict[str, str]) -> None:
        self.prompts = prompts

    async def active_prompt(self, variant: str) -> str | None:
        return self.prompts.get(variant)


DEFINITIONS = {
    "baseline": VariantDefinition(system_prompt="You are helpful."),
    "casual": VariantDefinition(
        prompt=PromptRef(version_of="casual"),
        system_prompt="Be casual (fallback).",
        model="smart",
        params={"temperature": 0.9},
    ),
}
BODY = {
    "model": "fast",
    "messages": [{"role": "system", "content": "client"}, {"role": "user", "content": "hi"}],
}


async def test_inline_prompt_replaces_the_system_message_without_touching_the_input() -> None:
    book = VariantBook(DEFINITIONS)
    new = await book.apply("baseline", BODY)
    assert new["messages"] == [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "hi"},
    ]
    assert BODY["messages"][0]["content"] == "client"  # type: ignore[index]
    assert new["model"] == "fast"


async def test_registry_prompt_model_and_params() -> None:
    book = VariantBook(DEFINITIONS, FakePrompts({"casual": "Hey there, v3."}))
    new = await book.apply("casual", BODY)
    assert new["messages"][0] == {"role": "system", "content": "Hey there, v3."}
    assert new["model"] == "smart"
    assert new["temperature"] == 0.9


async def test_without_a_registry_version_the_inline_prompt_is_used() -> None:
    new = await VariantBook(DEFINITIONS, FakePrompts({})).apply("casual", BODY)
    assert new["messages"][0]["content"] == "Be casual (fallback)."


async def test_a_candidate_version_borrows_its_base_variant() -> None:
    book = VariantBook(DEFINITIONS, FakePrompts({"casual_v4": "Candidate four."}))
    new = await book.apply("casual_v4", BODY)
    assert new["messages"][0]["content"] == "Candidate four."
    assert new["model"] == "smart"


async def test_unknown_variant_is_a_bad_request() -> None:
    with pytest.raises(InvalidRequest, match="Unknown variant"):
        await VariantBook(DEFINITIONS).apply("nope", BODY)
