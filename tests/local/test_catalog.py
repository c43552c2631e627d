"""The shipped catalog and its extension in config."""

from __future__ import annotations

from pathlib import Path

import pytest

from steadyllm.config import ConfigError, load_settings
from steadyllm.local.catalog import BITS_PER_WEIGHT, load_catalog
from steadyllm.local.settings import CatalogEntrySettings, LocalSettings


def test_shipped_catalog_is_valid_and_sensible() -> None:
    catalog = load_catalog(LocalSettings())
    entries = list(catalog)
    assert len(entries) >= 20
    assert len({e.id for e in entries}) == len(entries)
    for entry in entries:
        assert entry.kind in ("chat", "embeddings")
        assert 0 < entry.quality_score <= 100
        assert entry.quantizations
        assert all(q in BITS_PER_WEIGHT for q in entry.quantizations)
        sizes = [entry.weights_gib(q) for q in entry.quantizations]
        assert sizes == sorted(sizes), f"{entry.id}: quantizations listed smallest first"
        assert entry.sources, entry.id
        if entry.kind == "chat":
            assert "chat" in entry.tags
            assert entry.kv_cache_mib_per_1k > 0
    tags = set().union(*(e.tags for e in entries))
    assert {"chat", "code", "embeddings", "tools", "reasoning"} <= tags


def test_weights_follow_parameters_and_bits() -> None:
    entry = load_catalog(LocalSettings()).get("llama-3.1-8b-instruct")
    assert entry is not None
    # published GGUF: 4.92 GB at Q4_K_M, 8.54 GB at Q8_0
    assert entry.weights_gib("Q4_K_M") * 1024**3 / 1e9 == pytest.approx(4.92, rel=0.02)
    assert entry.weights_gib("Q8_0") * 1024**3 / 1e9 == pytest.approx(8.54, rel=0.02)
    assert entry.kv_cache_gib(8192) == pytest.approx(1.0)


def test_config_adds_and_replaces_entries(tmp_path: Path) -> None:
    extra = tmp_path / "more.yaml"
    extra.write_text(
        "models:\n"
        "  - {id: house-model, params_b: 3, context_length: 4096, tags: [chat, house],"
        " quality_score: 40, kv_cache_mib_per_1k: 50}\n",
        encoding="utf-8",
    )
    settings = load_settings(
        {
            "local": {
                "catalog_file": str(extra),
                "catalog": [
                    {
                        "id": "qwen2.5-7b-instruct",
                        "params_b": 7.62,
                        "context_length": 32768,
                        "tags": ["chat"],
                        "quality_score": 99,
                    }
                ],
            }
        }
    )
    catalog = load_catalog(settings.local)
    house = catalog.get("house-model")
    replaced = catalog.get("qwen2.5-7b-instruct")
    assert house is not None
    assert "house" in house.tags
    assert replaced is not None
    assert replaced.quality_score == 99
    assert len(catalog) == len(load_catalog(LocalSettings())) + 1


def test_only_config_entries_without_the_shipped_set() -> None:
    settings = LocalSettings(
        include_shipped_catalog=False,
        catalog=[CatalogEntrySettings(id="solo", params_b=1, context_length=2048)],
    )
    assert [e.id for e in load_catalog(settings)] == ["solo"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "models: [{id: x, params_b: 1, context_length: 10, quantizations: [Q9]}]",
            "unknown quantization Q9",
        ),
        ("models: [{id: x, params_b: -1, context_length: 10}]", "models[0]: params_b"),
        ("models: [{id: x, params_b: 1, context_length: 10, colour: red}]", "colour"),
        ("entries: []", "needs a top-level 'models' list"),
        ("models: [", "not valid YAML"),
    ],
)
def test_bad_catalog_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_catalog(LocalSettings(catalog_file=str(path)))


def test_missing_catalog_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_catalog(LocalSettings(catalog_file=str(tmp_path / "absent.yaml")))
