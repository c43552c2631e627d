"""Fit checks and recommendations over faked hardware profiles (pure, tables of cases)."""

from __future__ import annotations

import pytest

from steadyllm.local.catalog import Catalog, CatalogEntry, load_catalog
from steadyllm.local.settings import CatalogEntrySettings, LocalSettings
from steadyllm.local.tiers import HardwareProfile
from steadyllm.policy.catalog_fit import Constraints, best_fit, check_fit, recommend
from tests.local.profiles import integrated, machine, nvidia

SETTINGS = LocalSettings()
CATALOG = load_catalog(SETTINGS)


def entry(entry_id: str) -> CatalogEntry:
    found = CATALOG.get(entry_id)
    assert found is not None, entry_id
    return found


def custom(**fields: object) -> CatalogEntry:
    base: dict[str, object] = {
        "id": "m",
        "params_b": 7.0,
        "context_length": 8192,
        "kv_cache_mib_per_1k": 128,
        "tags": ["chat"],
        "quality_score": 50,
    }
    return CatalogEntry.from_settings(CatalogEntrySettings.model_validate({**base, **fields}))


@pytest.mark.parametrize(
    ("model", "quantization", "profile", "placement"),
    [
        # CPU only, 16 GiB: an 8B at Q4 runs from RAM; a 70B does not fit at all
        ("llama-3.1-8b-instruct", "Q4_K_M", machine(ram_gib=16), "cpu"),
        ("llama-3.3-70b-instruct", "Q4_K_M", machine(ram_gib=16), None),
        # 8 GiB GPU: an 8B at Q4 sits on the GPU; a 14B at Q4 spills into RAM
        ("llama-3.1-8b-instruct", "Q4_K_M", machine(gpus=(nvidia(8),)), "gpu"),
        ("qwen2.5-14b-instruct", "Q4_K_M", machine(gpus=(nvidia(8),)), "split"),
        ("llama-3.1-8b-instruct", "F16", machine(gpus=(nvidia(8),)), "split"),
        # 24 GiB GPU: a 32B at Q4 fits whole; a 70B at Q4 needs two of them
        ("qwen2.5-32b-instruct", "Q4_K_M", machine(gpus=(nvidia(24),)), "gpu"),
        ("llama-3.3-70b-instruct", "Q4_K_M", machine(gpus=(nvidia(24), nvidia(24))), "multi_gpu"),
        ("llama-3.3-70b-instruct", "Q4_K_M", machine(ram_gib=16, gpus=(nvidia(24),)), None),
        # integrated GPU with a share of RAM
        ("llama-3.1-8b-instruct", "Q4_K_M", machine(gpus=(integrated(16, "apple"),)), "igpu"),
        ("qwen2.5-32b-instruct", "Q4_K_M", machine(ram_gib=32, gpus=(integrated(8),)), "cpu"),
    ],
)
def test_placement(
    model: str, quantization: str, profile: HardwareProfile, placement: str | None
) -> None:
    verdict = check_fit(entry(model), profile, SETTINGS, quantization=quantization)
    assert verdict.placement == placement
    assert verdict.fits is (placement is not None)
    if placement is None:
        assert verdict.required_gib > verdict.budget_gib
        assert "needs" in verdict.reasons[0]


def test_memory_is_weights_plus_kv_cache_plus_overhead() -> None:
    model = custom(params_b=8.0, kv_cache_mib_per_1k=128)
    verdict = check_fit(model, machine(), SETTINGS, quantization="Q8_0", context=8192)
    weights = 8e9 * 8.5 / 8 / 1024**3
    assert verdict.required_gib == pytest.approx(weights + 1.0 + SETTINGS.runtime_overhead_gib)


def test_a_longer_context_needs_more_memory_and_can_stop_fitting() -> None:
    model = custom(params_b=7.0, kv_cache_mib_per_1k=512, context_length=131072)
    gpu = machine(ram_gib=8, gpus=(nvidia(8),))
    short = check_fit(model, gpu, SETTINGS, quantization="Q4_K_M", context=2048)
    long = check_fit(model, gpu, SETTINGS, quantization="Q4_K_M", context=65536)
    assert short.placement == "gpu"
    assert long.required_gib - short.required_gib == pytest.approx(31.0)
    assert long.placement is None


def test_context_beyond_the_model_is_refused() -> None:
    verdict = check_fit(
        entry("gemma-2-2b-it"), machine(), SETTINGS, quantization="Q4_K_M", context=32768
    )
    assert not verdict.fits
    assert "longer than the model's 8192" in verdict.reasons[0]


def test_unpublished_quantization_is_refused() -> None:
    verdict = check_fit(entry("all-minilm-l6-v2"), machine(), SETTINGS, quantization="Q4_K_M")
    assert not verdict.fits
    assert "not published at Q4_K_M" in verdict.reasons[0]


def test_measured_memory_wins_over_the_estimate() -> None:
    model = custom(quantizations=["Q4_K_M"], memory_gib={"Q4_K_M": 1.0})
    assert model.weights_gib("Q4_K_M") == 1.0


def test_measured_speed_wins_over_the_estimate() -> None:
    model = custom(tokens_per_second={"CPU_ONLY": 42.0})
    verdict = check_fit(model, machine(), SETTINGS, quantization="Q4_K_M")
    assert (verdict.tokens_per_second, verdict.speed_source) == (42.0, "measured")
    on_gpu = check_fit(model, machine(gpus=(nvidia(24),)), SETTINGS, quantization="Q4_K_M")
    assert on_gpu.speed_source == "estimated"
    exact = custom(tokens_per_second={"CPU_ONLY": 42.0, "CPU_ONLY/Q8_0": 30.0})
    q8 = check_fit(exact, machine(), SETTINGS, quantization="Q8_0")
    q4 = check_fit(exact, machine(), SETTINGS, quantization="Q4_K_M")
    assert (q8.tokens_per_second, q4.tokens_per_second) == (30.0, 42.0)


def test_estimated_speed_falls_with_size_and_rises_on_a_gpu() -> None:
    cpu = machine()
    small = check_fit(custom(params_b=1.0), cpu, SETTINGS, quantization="Q4_K_M")
    large = check_fit(custom(params_b=8.0), cpu, SETTINGS, quantization="Q4_K_M")
    gpu = check_fit(
        custom(params_b=8.0), machine(gpus=(nvidia(24),)), SETTINGS, quantization="Q4_K_M"
    )
    assert small.tokens_per_second is not None
    assert large.tokens_per_second is not None
    assert gpu.tokens_per_second is not None
    assert small.tokens_per_second == pytest.approx(large.tokens_per_second * 8)
    assert gpu.tokens_per_second > 10 * large.tokens_per_second


def test_best_fit_takes_the_finest_quantization_that_fits() -> None:
    model = entry("llama-3.1-8b-instruct")
    assert best_fit(model, machine(gpus=(nvidia(24),)), SETTINGS).quantization == "F16"
    assert best_fit(model, machine(gpus=(nvidia(12),)), SETTINGS).quantization == "Q8_0"
    assert best_fit(model, machine(gpus=(nvidia(8),)), SETTINGS).quantization == "Q6_K"
    assert best_fit(model, machine(gpus=(nvidia(6),)), SETTINGS).quantization == "Q4_K_M"


def test_best_fit_says_why_when_too_slow() -> None:
    verdict = best_fit(
        entry("llama-3.1-8b-instruct"), machine(cores=2), SETTINGS, min_tokens_per_second=5
    )
    assert not verdict.fits
    assert verdict.placement == "cpu"
    assert "under the 5 asked for" in verdict.reasons[-1]


def test_recommend_prefers_the_gpu_then_quality() -> None:
    chosen, refused = recommend(
        list(CATALOG), machine(gpus=(nvidia(8),)), SETTINGS, Constraints(limit=50)
    )
    placements = [r.verdict.placement for r in chosen]
    assert placements == sorted(placements, key=["gpu", "split", "cpu"].index)
    on_gpu = [r for r in chosen if r.verdict.placement == "gpu"]
    scores = [r.score for r in on_gpu]
    assert scores == sorted(scores, reverse=True)
    assert on_gpu[0].entry.id == "qwen2.5-7b-instruct"
    assert all(r.entry.kind == "chat" for r in chosen)
    assert {v.entry_id for v in refused} >= {"llama-3.3-70b-instruct", "qwen2.5-72b-instruct"}


@pytest.mark.parametrize(
    ("constraints", "expected_first"),
    [
        (Constraints(required_tags=frozenset({"code"})), "qwen2.5-coder-32b-instruct"),
        (Constraints(required_tags=frozenset({"reasoning"})), "phi-3.5-mini-instruct"),
        (Constraints(kind="embeddings"), "nomic-embed-text-v1.5"),
        (
            Constraints(context=65536, required_tags=frozenset({"long-context"})),
            "llama-3.1-8b-instruct",
        ),
    ],
)
def test_recommend_honours_constraints(constraints: Constraints, expected_first: str) -> None:
    profile = machine(ram_gib=64, gpus=(nvidia(24),))
    chosen, _ = recommend(list(CATALOG), profile, SETTINGS, constraints)
    assert chosen[0].entry.id == expected_first
    for item in chosen:
        assert constraints.required_tags <= item.entry.tags
        assert item.entry.kind == constraints.kind
        if constraints.context:
            assert item.verdict.context == constraints.context


def test_min_quality_leaves_weaker_models_out() -> None:
    chosen, _ = recommend(
        list(CATALOG),
        machine(gpus=(nvidia(24),)),
        SETTINGS,
        Constraints(min_quality_score=80, limit=50),
    )
    assert chosen
    assert all(r.entry.quality_score >= 80 for r in chosen)


def test_nothing_fits_a_tiny_machine() -> None:
    tiny = Catalog([custom(id="big", params_b=70)])
    chosen, refused = recommend(list(tiny), machine(ram_gib=4), SETTINGS, Constraints())
    assert chosen == []
    assert [v.entry_id for v in refused] == ["big"]


def test_speed_floor_from_settings_or_constraints() -> None:
    slow_machine = machine(cores=2)
    models = [entry("llama-3.1-8b-instruct")]
    strict, _ = recommend(models, slow_machine, SETTINGS, Constraints())
    relaxed, _ = recommend(models, slow_machine, SETTINGS, Constraints(min_tokens_per_second=0))
    assert strict == []
    assert [r.entry.id for r in relaxed] == ["llama-3.1-8b-instruct"]
