"""Settings of local inference: the ``local`` section and a deployment's ``llamacpp`` block.

Kept free of heavy imports: ``config.py`` imports this module at startup.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CatalogEntrySettings",
    "LlamaCppSettings",
    "LocalSettings",
    "TierSettings",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierSettings(_Strict):
    """GPU memory bounds of the hardware tiers, in GiB (see ``local/tiers.py``)."""

    mid_vram_gib: float = Field(10.0, gt=0)  # a single GPU with at least this: MID_VRAM_GPU
    high_vram_gib: float = Field(24.0, gt=0)  # ... at least this: HIGH_VRAM_GPU


class CatalogEntrySettings(_Strict):
    """One model added to (or replacing, by ``id``) the shipped catalog."""

    id: str = Field(min_length=1)
    name: str | None = None
    kind: Literal["chat", "embeddings"] = "chat"
    family: str | None = None
    params_b: float = Field(gt=0)  # billions of parameters
    context_length: int = Field(gt=0)
    kv_cache_mib_per_1k: float = Field(0.0, ge=0)  # fp16 KV cache per 1024 tokens of context
    quantizations: list[str] = Field(default_factory=lambda: ["Q4_K_M", "Q8_0", "F16"])
    memory_gib: dict[str, float] = Field(default_factory=dict)  # measured weights, by quant
    tags: list[str] = Field(default_factory=list)
    quality_score: float = Field(0.0, ge=0, le=100)
    tokens_per_second: dict[str, float] = Field(default_factory=dict)  # "TIER" or "TIER/QUANT"
    license: str | None = None
    sources: dict[str, str] = Field(default_factory=dict)  # gguf / ollama / hf repo names


class LocalSettings(_Strict):
    """The ``local`` section: hardware tiers and the model catalog."""

    catalog: list[CatalogEntrySettings] = Field(default_factory=list)
    catalog_file: str | None = None  # a YAML file of more entries, same shape as the shipped one
    include_shipped_catalog: bool = True
    tiers: TierSettings = TierSettings()
    ram_reserve_gib: float = Field(2.0, ge=0)  # kept free for the OS and the gateway
    vram_reserve_gib: float = Field(0.5, ge=0)  # kept free on each GPU (driver, other use)
    runtime_overhead_gib: float = Field(0.3, ge=0)  # compute buffers beside weights and KV
    default_context: int = Field(4096, gt=0)  # context the fit is checked at when none is asked
    min_tokens_per_second: float = Field(5.0, ge=0)  # recommendations slower than this: left out


class LlamaCppSettings(_Strict):
    """The in-process llama.cpp provider (``provider: llamacpp``).

    The model is loaded once, on the first request, and shared by every request to
    the deployment. One generation runs at a time on it (a llama.cpp context is not
    re-entrant); the others wait in a bounded queue.
    """

    model_path: str | None = None  # a GGUF file; unset: the deployment's ``model`` is the path
    n_ctx: int = Field(4096, gt=0)
    n_threads: int | None = Field(None, gt=0)  # unset: llama.cpp's choice
    n_gpu_layers: int = Field(0, ge=-1)  # -1: every layer on the GPU
    max_queue: int = Field(32, ge=0)  # requests waiting beyond the running one; past it: 503
    queue_timeout: float = Field(60.0, gt=0)  # seconds a request may wait for its turn
    chat_format: str | None = None  # unset: the template in the GGUF file
    embedding: bool = False  # load for /v1/embeddings instead of chat
    seed: int | None = None
