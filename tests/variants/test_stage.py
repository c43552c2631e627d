"""The variant stage with a fake inner handler: which variant, what body, query routing."""

from __future__ import annotations

from typing import Any

import pytest

from steadyllm.call import Call, Principal, Response
from steadyllm.experiments.model import Arm, Experiment
from steadyllm.experiments.registry import ExperimentRegistry
from steadyllm.experiments.store import MemoryExperimentStore
from steadyllm.stages.variant import VariantStage
from steadyllm.variants.book import VariantBook
from steadyllm.variants.live import MemoryLiveVariants
from steadyllm.variants.settings import VariantsSettings

SETTINGS = VariantsSettings.model_validate(
    {
        "definitions": {
            "baseline": {"system_prompt": "Baseline."},
            "casual": {"system_prompt": "Casual.", "params": {"temperature": 1.0}},
        },
        "routes": {"fast": "baseline"},
        "query_routing": {"router": {"simple": "fast", "complex": "smart"}},
    }
)


class Inner:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, call: Call) -> Response:
        self.seen.append(call.body)
        return Response(body={"choices": [{"message": {"content": "ok"}}]})


def stage(experiments: ExperimentRegistry | None = None) -> VariantStage:
    book = VariantBook(SETTINGS.definitions)
    return VariantStage(SETTINGS, book, MemoryLiveVariants(dict(SETTINGS.routes)), experiments)


def call(text: str = "hi", model: str = "fast", **kwargs: Any) -> Call:
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    body.update(kwargs.pop("body", {}))
    return Call(request_id="r1", kind="chat", body=body, **kwargs)


@pytest.mark.parametrize(
    ("make", "variant"),
    [
        (lambda: call(), "baseline"),  # the route's live variant
        (lambda: call(headers={"x-steadyllm-variant": "casual"}), "casual"),
        (lambda: call(body={"variant": "casual"}), "casual"),
        (lambda: call(metadata={"variant": "casual"}), "casual"),
        (lambda: call(model="other"), None),  # no live variant for that route
    ],
)
async def test_variant_choice(make: Any, variant: str | None) -> None:
    inner = Inner()
    the_call = make()
    original = the_call.body
    await stage()(the_call, inner)
    assert the_call.variant == variant
    assert "variant" not in inner.seen[0]
    if variant is not None:
        assert inner.seen[0]["messages"][0]["content"] == variant.capitalize() + "."
        assert original["messages"][0]["role"] == "user"  # the client's body is not mutated


async def test_experiment_assigns_by_conversation_and_tags_the_record() -> None:
    registry = ExperimentRegistry(MemoryExperimentStore())
    experiment = Experiment(
        id="e1", name="t", route="fast", arms=(Arm("baseline", 1), Arm("casual", 1))
    )
    await registry.create(experiment)
    the_stage = stage(registry)
    picks: dict[str, set[str | None]] = {}
    for i in range(40):
        for turn in range(3):
            c = call(f"turn {turn}", metadata={"conversation_id": f"c{i}"})
            await the_stage(c, Inner())
            assert c.metadata["experiment"] == "e1"
            picks.setdefault(f"c{i}", set()).add(c.variant)
    assert all(len(v) == 1 for v in picks.values())
    assert {v for s in picks.values() for v in s} == {"baseline", "casual"}
    by_user = call(principal=Principal(user="u1"))
    await the_stage(by_user, Inner())
    assert by_user.variant in ("baseline", "casual")


@pytest.mark.parametrize(
    ("text", "model", "query_class"),
    [
        ("What time is breakfast?", "fast", "simple"),
        ("Explain and compare the cancellation policies step by step.", "smart", "complex"),
    ],
)
async def test_query_routing(text: str, model: str, query_class: str) -> None:
    inner = Inner()
    c = call(text, model="router")
    await stage()(c, inner)
    assert inner.seen[0]["model"] == model
    assert c.metadata["query_class"] == query_class


async def test_a_streamed_primary_is_shadowed_once_the_stream_completes() -> None:
    from collections.abc import AsyncIterator

    from steadyllm.shadow.orchestrator import ShadowOrchestrator
    from steadyllm.shadow.store import MemoryComparisonStore

    book = VariantBook(SETTINGS.definitions)
    live = MemoryLiveVariants(dict(SETTINGS.routes))
    shadow = ShadowOrchestrator(SETTINGS.shadow, MemoryComparisonStore(), live, book.apply)
    await shadow.start("casual", "baseline", traffic_percent=100)
    the_stage = VariantStage(SETTINGS, book, live, None, shadow)

    async def chunks() -> AsyncIterator[dict[str, Any]]:
        for word in ("the ", "room ", "is free"):
            yield {"choices": [{"delta": {"content": word}}]}

    async def streamed(c: Call) -> Response:
        return Response(chunks=chunks())

    response = await the_stage(call(body={"stream": True}), streamed)
    assert shadow.counters.enqueued == 0  # nothing until the user has the whole answer
    assert response.chunks is not None
    assert [chunk async for chunk in response.chunks]
    assert shadow.counters.enqueued == 1
    job = shadow._queue.get_nowait()
    assert job.primary_text == "the room is free"
    assert job.body["messages"] == [{"role": "user", "content": "hi"}]
    assert job.body["stream"] is True  # the original request; the shadow call unsets it


async def test_a_named_variant_without_any_configured_is_refused() -> None:
    from steadyllm.errors import InvalidRequest

    empty = VariantsSettings()
    bare = VariantStage(empty, VariantBook({}), MemoryLiveVariants())
    plain = call()
    await bare(plain, Inner())
    assert plain.variant is None
    with pytest.raises(InvalidRequest, match="Unknown variant"):
        await bare(call(body={"variant": "casual"}), Inner())


async def test_routing_keeps_the_requested_model_in_the_metadata() -> None:
    c = call("Explain why the bill is higher, step by step.", model="router")
    await stage()(c, Inner())
    assert c.model == "smart"
    assert c.metadata["requested_model"] == "router"
