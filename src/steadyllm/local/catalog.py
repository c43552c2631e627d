"""The model catalog: open models with what they need and what they offer.

The shipped set is ``catalog.yaml`` beside this module; config adds to it or
replaces entries by ``id`` (``local.catalog``, ``local.catalog_file``). Entries are
validated once when the catalog loads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from steadyllm.config import ConfigError
from steadyllm.local.settings import CatalogEntrySettings, LocalSettings
from steadyllm.local.tiers import GIB

__all__ = ["BITS_PER_WEIGHT", "Catalog", "CatalogEntry", "load_catalog"]

# Average bits per weight of llama.cpp's GGUF quantizations (block scales included).
BITS_PER_WEIGHT: dict[str, float] = {
    "Q2_K": 3.00,
    "Q3_K_M": 3.91,
    "Q4_0": 4.55,
    "Q4_1": 5.00,
    "Q4_K_M": 4.89,
    "Q5_K_M": 5.70,
    "Q6_K": 6.56,
    "Q8_0": 8.50,
    "F16": 16.0,
    "BF16": 16.0,
    "F32": 32.0,
}


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    id: str
    name: str
    kind: str  # "chat" or "embeddings"
    family: str | None
    params_b: float
    context_length: int
    kv_cache_mib_per_1k: float
    quantizations: tuple[str, ...]
    memory_gib: dict[str, float]  # measured weight memory by quantization, where known
    tags: frozenset[str]
    quality_score: float
    tokens_per_second: dict[str, float]  # by tier name, where measured
    license: str | None
    sources: dict[str, str]

    def weights_gib(self, quantization: str) -> float:
        """Memory of the weights at ``quantization`` (measured, else params x bits)."""
        if quantization in self.memory_gib:
            return self.memory_gib[quantization]
        return self.params_b * 1e9 * BITS_PER_WEIGHT[quantization] / 8 / GIB

    def kv_cache_gib(self, context: int) -> float:
        return self.kv_cache_mib_per_1k * context / 1024 / 1024

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "family": self.family,
            "params_b": self.params_b,
            "context_length": self.context_length,
            "kv_cache_mib_per_1k": self.kv_cache_mib_per_1k,
            "quantizations": {q: round(self.weights_gib(q), 2) for q in self.quantizations},
            "tags": sorted(self.tags),
            "quality_score": self.quality_score,
            "tokens_per_second": dict(self.tokens_per_second),
            "license": self.license,
            "sources": dict(self.sources),
        }

    @classmethod
    def from_settings(cls, entry: CatalogEntrySettings) -> CatalogEntry:
        unknown = [
            q for q in entry.quantizations if q not in BITS_PER_WEIGHT and q not in entry.memory_gib
        ]
        if unknown:
            raise ConfigError(
                f"catalog entry {entry.id!r}: unknown quantization {', '.join(unknown)} "
                f"(known: {', '.join(BITS_PER_WEIGHT)}; or give its memory_gib)"
            )
        if not entry.quantizations:
            raise ConfigError(f"catalog entry {entry.id!r}: needs at least one quantization")
        return cls(
            id=entry.id,
            name=entry.name or entry.id,
            kind=entry.kind,
            family=entry.family,
            params_b=entry.params_b,
            context_length=entry.context_length,
            kv_cache_mib_per_1k=entry.kv_cache_mib_per_1k,
            quantizations=tuple(entry.quantizations),
            memory_gib=dict(entry.memory_gib),
            tags=frozenset(entry.tags),
            quality_score=entry.quality_score,
            tokens_per_second=dict(entry.tokens_per_second),
            license=entry.license,
            sources=dict(entry.sources),
        )


class Catalog:
    """Entries by id, in the order they were given."""

    def __init__(self, entries: Iterable[CatalogEntry]) -> None:
        self._entries: dict[str, CatalogEntry] = {}
        for entry in entries:
            self._entries[entry.id] = entry  # a later entry replaces an earlier one

    def __iter__(self) -> Iterator[CatalogEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, entry_id: str) -> CatalogEntry | None:
        return self._entries.get(entry_id)


def _entries_from_yaml(text: str, source: str) -> list[CatalogEntry]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise ConfigError(f"{source}: needs a top-level 'models' list")
    entries = []
    for index, item in enumerate(models):
        try:
            entries.append(CatalogEntry.from_settings(CatalogEntrySettings.model_validate(item)))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"{source}: models[{index}]: {problems}") from None
    return entries


def shipped_catalog_text() -> str:
    return resources.files("steadyllm.local").joinpath("catalog.yaml").read_text("utf-8")


def load_catalog(settings: LocalSettings) -> Catalog:
    """The shipped entries, then ``catalog_file``'s, then ``catalog``'s (later ids win)."""
    entries: list[CatalogEntry] = []
    if settings.include_shipped_catalog:
        entries += _entries_from_yaml(shipped_catalog_text(), "shipped catalog.yaml")
    if settings.catalog_file is not None:
        path = Path(settings.catalog_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"local.catalog_file: cannot read {path}: {exc.strerror}") from None
        entries += _entries_from_yaml(text, str(path))
    entries += [CatalogEntry.from_settings(entry) for entry in settings.catalog]
    return Catalog(entries)
