"""Where experiments are kept: memory, or the records' SQL database."""

from __future__ import annotations

from typing import Any, Protocol

import sqlalchemy as sa

from steadyllm.experiments.model import Arm, Experiment
from steadyllm.stores.sql.engine import Database
from steadyllm.stores.sql.schema import EXPERIMENTS

__all__ = ["ExperimentStore", "MemoryExperimentStore", "SqlExperimentStore"]


class ExperimentStore(Protocol):
    async def create(self, experiment: Experiment) -> None: ...

    async def get(self, experiment_id: str) -> Experiment | None: ...

    async def list(self) -> list[Experiment]:
        """Oldest first."""
        ...

    async def set_status(self, experiment_id: str, status: str) -> bool: ...


class MemoryExperimentStore:
    def __init__(self, limit: int = 1000) -> None:
        self._items: dict[str, Experiment] = {}
        self._limit = limit

    async def create(self, experiment: Experiment) -> None:
        if len(self._items) >= self._limit:  # bounded: forget the oldest stopped one
            for key, item in self._items.items():
                if item.status != "running":
                    del self._items[key]
                    break
        self._items[experiment.id] = experiment

    async def get(self, experiment_id: str) -> Experiment | None:
        return self._items.get(experiment_id)

    async def list(self) -> list[Experiment]:
        return sorted(self._items.values(), key=lambda e: e.created_at)

    async def set_status(self, experiment_id: str, status: str) -> bool:
        item = self._items.get(experiment_id)
        if item is None:
            return False
        from dataclasses import replace

        self._items[experiment_id] = replace(item, status=status)
        return True


class SqlExperimentStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(self, experiment: Experiment) -> None:
        row = {
            "id": experiment.id,
            "name": experiment.name,
            "route": experiment.route,
            "status": experiment.status,
            "created_at": experiment.created_at,
            "definition": {
                "arms": [[a.variant, a.weight] for a in experiment.arms],
                "subject": experiment.subject,
                "outcome": experiment.outcome,
                "alpha": experiment.alpha,
            },
        }
        async with self._database.transaction() as conn:
            await conn.execute(sa.insert(EXPERIMENTS), [row])

    async def get(self, experiment_id: str) -> Experiment | None:
        query = sa.select(EXPERIMENTS).where(EXPERIMENTS.c.id == experiment_id)
        async with self._database.transaction() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else _experiment(row)

    async def list(self) -> list[Experiment]:
        query = sa.select(EXPERIMENTS).order_by(EXPERIMENTS.c.created_at)
        async with self._database.transaction() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_experiment(row) for row in rows]

    async def set_status(self, experiment_id: str, status: str) -> bool:
        statement = (
            sa.update(EXPERIMENTS).where(EXPERIMENTS.c.id == experiment_id).values(status=status)
        )
        async with self._database.transaction() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)


def _experiment(row: Any) -> Experiment:
    definition = row["definition"]
    return Experiment(
        id=row["id"],
        name=row["name"],
        route=row["route"],
        arms=tuple(Arm(str(v), float(w)) for v, w in definition["arms"]),
        subject=definition["subject"],
        outcome=definition["outcome"],
        alpha=float(definition["alpha"]),
        status=row["status"],
        created_at=float(row["created_at"]),
    )
