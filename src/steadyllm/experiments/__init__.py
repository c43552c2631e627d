"""A/B experiments: registry, sticky arms, results with statistics (docs/EXPERIMENTS.md)."""

from steadyllm.experiments.model import Arm, Experiment, experiment_from_json
from steadyllm.experiments.results import OutcomeSource, collect, results
from steadyllm.experiments.store import (
    ExperimentStore,
    MemoryExperimentStore,
    SqlExperimentStore,
)

__all__ = [
    "Arm",
    "Experiment",
    "ExperimentStore",
    "MemoryExperimentStore",
    "OutcomeSource",
    "SqlExperimentStore",
    "collect",
    "experiment_from_json",
    "results",
]
