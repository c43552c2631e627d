"""The definition of one shadow test."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ShadowSession"]


@dataclass(frozen=True, slots=True)
class ShadowSession:
    id: str
    shadow_variant: str
    primary_variant: str
    routes: tuple[str, ...]
    traffic_percent: float
    target_samples: int
    auto_promote: bool
    started_at: float
