"""Model groups, their deployments and fallback chains, built once from settings."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from steadyllm.call import Call, Deployment, Price
from steadyllm.config import Settings
from steadyllm.errors import InvalidRequest, NotFound, PermissionDenied
from steadyllm.policy.weighted import weighted_order
from steadyllm.providers.base import Provider, create_provider

__all__ = ["Balancer", "ModelRoute", "Router"]

# Orders one model's deployments, best first: (model name, deployments, random source).
Balancer = Callable[[str, Sequence[Deployment], random.Random], list[Deployment]]


@dataclass(frozen=True, slots=True)
class ModelRoute:
    name: str
    kind: str
    deployments: tuple[Deployment, ...]
    fallbacks: tuple[str, ...]


class Router:
    def __init__(self, routes: dict[str, ModelRoute], rng: random.Random | None = None) -> None:
        self.routes = routes
        self._rng = rng or random.Random()
        # Set by the gateway when resilience is on (weight / least latency / least in flight);
        # without it, each model's deployments are drawn by weight.
        self.balancer: Balancer | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Router:
        routes: dict[str, ModelRoute] = {}
        for model in settings.models:
            deployments = []
            for index, ds in enumerate(model.deployments):
                provider: Provider = create_provider(ds)
                price = (
                    Price(ds.price.input_per_million, ds.price.output_per_million)
                    if ds.price is not None
                    else None
                )
                deployments.append(
                    Deployment(
                        name=ds.name or f"{model.name}/{ds.provider}:{ds.model}#{index}",
                        model_group=model.name,
                        upstream_model=ds.model,
                        provider=provider,
                        price=price,
                        weight=ds.weight,
                        context_window=ds.context_window,
                    )
                )
            routes[model.name] = ModelRoute(
                name=model.name,
                kind=model.kind,
                deployments=tuple(deployments),
                fallbacks=tuple(model.fallbacks),
            )
        return cls(routes)

    def deployments(self) -> list[Deployment]:
        return [d for route in self.routes.values() for d in route.deployments]

    def plan(self, call: Call) -> list[Deployment]:
        """Candidates in order: the model's deployments (weighted), then its fallbacks'."""
        name = call.model
        route = self.routes.get(name)
        if route is None:
            raise NotFound(
                f"The model `{name}` does not exist or you do not have access to it.",
                code="model_not_found",
                param="model",
            )
        allowed = call.principal.allowed_models
        if allowed is not None and name not in allowed:
            raise PermissionDenied(
                f"This key may not use the model `{name}`.", code="model_not_allowed", param="model"
            )
        if route.kind != call.kind:
            raise InvalidRequest(
                f"The model `{name}` serves {route.kind}, not {call.kind}.",
                code="wrong_model_kind",
                param="model",
            )
        plan: list[Deployment] = []
        seen = {name}
        queue = [route]
        while queue:
            current = queue.pop(0)
            if self.balancer is not None:
                plan.extend(self.balancer(current.name, current.deployments, self._rng))
            else:
                weights = [d.weight for d in current.deployments]
                plan.extend(current.deployments[i] for i in weighted_order(weights, self._rng))
            for fallback in current.fallbacks:
                if fallback not in seen and fallback in self.routes:
                    seen.add(fallback)
                    queue.append(self.routes[fallback])
        return plan

    async def aclose(self) -> None:
        for deployment in self.deployments():
            await deployment.provider.aclose()
