"""The engine: settings in, one folded request handler out.

Used in-process (``async with Gateway.from_config(...) as gw``) and by the HTTP
server, which is a thin edge around it. The stage list in ``_stages`` is the
whole request path, outermost first.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from steadyllm.cache.runtime import ResponseCache
from steadyllm.call import Call, Response
from steadyllm.config import Settings, load_settings
from steadyllm.errors import InternalError
from steadyllm.lifecycle.runtime import Lifecycle
from steadyllm.limits.access import Access
from steadyllm.openai_request import check_chat_request, check_embeddings_request, take_metadata
from steadyllm.pipeline import Handler, Stage, fold
from steadyllm.recording import RecordWriter
from steadyllm.records_spool import RecordSpool
from steadyllm.resilience.runtime import Resilience
from steadyllm.routing import Router
from steadyllm.safety.service import Safety
from steadyllm.shadow.orchestrator import ShadowOrchestrator
from steadyllm.stages.auth import AuthStage
from steadyllm.stages.breaker import BreakerStage
from steadyllm.stages.cache import CacheStage
from steadyllm.stages.fallback import FallbackStage
from steadyllm.stages.guard_in import GuardInStage
from steadyllm.stages.guard_out import GuardOutStage
from steadyllm.stages.limit import LimitStage
from steadyllm.stages.provider import call_provider
from steadyllm.stages.record import RecordStage
from steadyllm.stages.retry import RetryStage
from steadyllm.stages.route import RouteStage
from steadyllm.stages.validate import ValidateStage
from steadyllm.stores import Stores, open_stores
from steadyllm.telemetry.hub import Telemetry
from steadyllm.variants.runtime import Variants

__all__ = ["Gateway"]


class Gateway:
    """One gateway: its stores, providers, background workers and request path."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started_at = time.time()
        self._stores: Stores | None = None
        self._router: Router | None = None
        self._writer: RecordWriter | None = None
        self._handler: Handler | None = None
        self._access: Access | None = None
        self.telemetry = Telemetry(settings)
        self._resilience: Resilience | None = None
        self._cache: ResponseCache | None = None
        self._safety: Safety | None = None
        self._variants: Variants | None = None
        self._lifecycle: Lifecycle | None = None

    @classmethod
    def from_config(
        cls, source: str | Path | Mapping[str, Any] | Settings | None = None
    ) -> Gateway:
        return cls(load_settings(source))

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._handler is not None:
            return
        ResponseCache.check(self.settings.cache)
        self._stores = await open_stores(self.settings.store)
        self._router = Router.from_settings(self.settings)
        self._resilience = await Resilience.open(self.settings.resilience, self.settings.store)
        self._resilience.configure(
            {name: route.deployments for name, route in self._router.routes.items()}
        )
        self._router.balancer = self._resilience.order
        self._access = await Access.open(self.settings, self._stores, self._router)
        records = self.settings.records
        spool = RecordSpool.for_store(records, self.settings.store.url)
        self._writer = RecordWriter(self._stores.records, records, spool=spool)
        self._writer.start()
        self._cache = ResponseCache(self.settings.cache, self._stores.cache)
        await self._cache.start()
        self._safety = await Safety.open(
            self.settings.safety, self._stores, list(self._router.routes)
        )
        self._variants = await Variants.open(self.settings, self._stores, access=self._access)
        self._lifecycle = Lifecycle(
            self.settings.lifecycle,
            self._stores.database,
            self._stores.records,
            self._internal_chat,
            shadow=lambda: getattr(self, "shadow", None),
        )
        self._variants.connect(getattr(self, "lifecycle", None))
        stages = self._stages()
        wrap = self.telemetry.stage_wrapper
        self._handler = self.telemetry.wrap_handler(fold(stages, call_provider, wrap=wrap))
        self._variants.start(stages, call_provider)
        await self.telemetry.start(self, stages)
        await self._lifecycle.start()

    def _stages(self) -> list[Stage]:
        assert self._router is not None
        assert self._writer is not None
        assert self._resilience is not None
        assert self._access is not None
        assert self._cache is not None
        assert self._safety is not None
        assert self._variants is not None
        access = self._access
        return [
            RecordStage(self._writer, self.telemetry, pricing=access.pricing),
            AuthStage(access.keyring, require_keys=access.settings.require_keys),
            LimitStage(access.limiter, access.pricing, access.settings),
            GuardInStage(self._safety),
            self._variants.stage(),
            CacheStage(self._cache),
            RouteStage(self._router),
            FallbackStage(self._resilience, self._router),
            RetryStage(self._resilience),
            BreakerStage(self._resilience),
            ValidateStage(self._safety),
            GuardOutStage(self._safety),
        ]

    async def stop(self) -> None:
        """Flush every record and release connections. In-flight calls must be done."""
        await self.telemetry.stop()
        if self._lifecycle is not None:
            await self._lifecycle.stop()
            self._lifecycle = None
        if self._variants is not None:
            await self._variants.close()
            self._variants = None
        if self._cache is not None:
            await self._cache.stop()
            self._cache = None
        if self._safety is not None:
            await self._safety.stop(self.settings.server.shutdown_timeout)
            self._safety = None
        if self._writer is not None:
            await self._writer.stop(self.settings.server.shutdown_timeout)
        if self._router is not None:
            await self._router.aclose()
        if self._resilience is not None:
            await self._resilience.close()
            self._resilience = None
        if self._access is not None:
            await self._access.close()
            self._access = None
        if self._stores is not None:
            await self._stores.close()
        self._handler = None

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- parts, for the server and the control plane ------------------------------------

    @property
    def stores(self) -> Stores:
        if self._stores is None:
            raise InternalError("the gateway is not started")
        return self._stores

    @property
    def router(self) -> Router:
        if self._router is None:
            raise InternalError("the gateway is not started")
        return self._router

    @property
    def resilience(self) -> Resilience:
        if self._resilience is None:
            raise InternalError("the gateway is not started")
        return self._resilience

    @property
    def access(self) -> Access:
        """Keys, limits, prices, usage and budget alerts (``limits.access``)."""
        if self._access is None:
            raise InternalError("the gateway is not started")
        return self._access

    @property
    def safety(self) -> Safety:
        """Input and output checks, validation and the safety log (``safety``)."""
        if self._safety is None:
            raise InternalError("the gateway is not started")
        return self._safety

    @property
    def cache(self) -> ResponseCache:
        if self._cache is None:
            raise InternalError("the gateway is not started")
        return self._cache

    @property
    def variants(self) -> Variants:
        """Variants, live variant per route, experiments (``variants.runtime``)."""
        if self._variants is None:
            raise InternalError("the gateway is not started")
        return self._variants

    @property
    def lifecycle(self) -> Lifecycle:
        """Outcomes, prompt versions, drift, retraining (``lifecycle.runtime``)."""
        if self._lifecycle is None:
            raise InternalError("the gateway is not started")
        return self._lifecycle

    @property
    def shadow(self) -> ShadowOrchestrator:
        """The shadow test: start, status, analysis, promotion_check, promote, rollback."""
        return self.variants.shadow

    @property
    def records(self) -> RecordWriter:
        if self._writer is None:
            raise InternalError("the gateway is not started")
        return self._writer

    # --- the request path ----------------------------------------------------------------

    def new_call(
        self,
        kind: str,
        body: dict[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> Call:
        """Check ``body`` and wrap it in a call (raises ``InvalidRequest`` on bad input)."""
        if kind == "embeddings":
            check_embeddings_request(body)
        else:
            check_chat_request(body)
        metadata = take_metadata(body)
        call = Call(
            request_id=request_id or f"req_{uuid.uuid4().hex}",
            kind="embeddings" if kind == "embeddings" else "chat",
            body=body,
            headers=headers or {},
            metadata=metadata,
        )
        return call

    async def handle(self, call: Call) -> Response:
        if self._handler is None:
            raise InternalError("the gateway is not started")
        return await self._handler(call)

    # --- the in-process API ----------------------------------------------------------------

    async def chat(
        self, messages: list[dict[str, Any]], *, model: str, **params: Any
    ) -> dict[str, Any]:
        """A non-streamed chat completion through the whole pipeline (OpenAI body)."""
        params.pop("stream", None)
        call = self.new_call("chat", {"model": model, "messages": messages, **params})
        response = await self.handle(call)
        assert response.body is not None
        return response.body

    async def _internal_chat(
        self, messages: list[dict[str, Any]], *, model: str, **params: Any
    ) -> dict[str, Any]:
        """The gateway's own calls (retraining optimizer, evaluation, judge).

        Marked internal: the input guard does not judge them, since their text quotes
        prompts and failed conversations on purpose. Every other stage applies.
        """
        params.pop("stream", None)
        call = self.new_call("chat", {"model": model, "messages": messages, **params})
        call.notes["internal"] = True
        response = await self.handle(call)
        assert response.body is not None
        return response.body

    async def chat_stream(
        self, messages: list[dict[str, Any]], *, model: str, **params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """A streamed chat completion: OpenAI chunk dicts, usage last."""
        body = {"model": model, "messages": messages, **params, "stream": True}
        response = await self.handle(self.new_call("chat", body))
        assert response.chunks is not None
        async for chunk in response.chunks:
            yield chunk

    async def embeddings(
        self, input: str | list[str], *, model: str, **params: Any
    ) -> dict[str, Any]:
        call = self.new_call("embeddings", {"model": model, "input": input, **params})
        response = await self.handle(call)
        assert response.body is not None
        return response.body

    def models(self) -> list[dict[str, Any]]:
        created = int(self.started_at)
        return [
            {"id": name, "object": "model", "created": created, "owned_by": "steadyllm"}
            for name in self.router.routes
        ]
