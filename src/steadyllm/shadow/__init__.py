"""Shadow deployments (docs/EXPERIMENTS.md)."""

from steadyllm.shadow.comparison import ShadowComparison, compare
from steadyllm.shadow.orchestrator import ShadowJob, ShadowOrchestrator, ShadowSession
from steadyllm.shadow.state import MemoryShadowState, RedisShadowState, ShadowState
from steadyllm.shadow.store import (
    ComparisonStore,
    HistoryStore,
    MemoryComparisonStore,
    MemoryHistoryStore,
    SqlComparisonStore,
    SqlHistoryStore,
)

__all__ = [
    "ComparisonStore",
    "HistoryStore",
    "MemoryComparisonStore",
    "MemoryHistoryStore",
    "MemoryShadowState",
    "RedisShadowState",
    "ShadowComparison",
    "ShadowJob",
    "ShadowOrchestrator",
    "ShadowSession",
    "ShadowState",
    "SqlComparisonStore",
    "SqlHistoryStore",
    "compare",
]
