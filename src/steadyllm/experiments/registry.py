"""Running experiments by route, held in memory for the request path."""

from __future__ import annotations

from steadyllm.experiments.model import Experiment
from steadyllm.experiments.store import ExperimentStore

__all__ = ["ExperimentRegistry"]


class ExperimentRegistry:
    """The store plus the running experiment of each route (one per route)."""

    def __init__(self, store: ExperimentStore) -> None:
        self.store = store
        self.running: dict[str, Experiment] = {}

    async def load(self) -> None:
        self.running = {e.route: e for e in await self.store.list() if e.status == "running"}

    async def create(self, experiment: Experiment) -> None:
        await self.store.create(experiment)
        self.running[experiment.route] = experiment

    async def stop(self, experiment_id: str) -> bool:
        changed = await self.store.set_status(experiment_id, "stopped")
        self.running = {r: e for r, e in self.running.items() if e.id != experiment_id}
        return changed
