"""Shadow deployments (docs/EXPERIMENTS.md)."""

from steadyllm.shadow.comparison import ShadowComparison, compare
from steadyllm.shadow.orchestrator import ShadowJob, ShadowOrchestrator, ShadowSession
from steadyllm.shadow.store import ComparisonStore, MemoryComparisonStore, SqlComparisonStore

__all__ = [
    "ComparisonStore",
    "MemoryComparisonStore",
    "ShadowComparison",
    "ShadowJob",
    "ShadowOrchestrator",
    "ShadowSession",
    "SqlComparisonStore",
    "compare",
]
