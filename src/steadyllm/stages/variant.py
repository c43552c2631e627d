"""Stage ``variant``: pick the call's variant and apply it; feed the shadow test.

Runs after ``guard_in`` and before ``cache`` (the cache key includes the variant).
The variant comes from, in order: the ``x-steadyllm-variant`` header, a ``variant``
body field or ``metadata.variant``, the route's running A/B experiment (sticky by
user or conversation), the route's live variant. Query routing may then swap the
model group for simple or complex queries. The body is replaced by a copy with the
variant's system prompt, model and parameters. After the primary answer, a sampled
copy of the original request is offered to the shadow orchestrator (never awaited).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from steadyllm.call import Call, Response
from steadyllm.experiments.registry import ExperimentRegistry
from steadyllm.pipeline import Handler
from steadyllm.policy.assignment import assign
from steadyllm.policy.query_class import QueryClassifier, RuleClassifier, last_user_text
from steadyllm.shadow.comparison import answer_text
from steadyllm.shadow.orchestrator import ShadowJob, ShadowOrchestrator, ShadowSession
from steadyllm.variants.book import VariantBook
from steadyllm.variants.live import LiveVariants
from steadyllm.variants.settings import VariantsSettings

__all__ = ["VariantStage"]


class VariantStage:
    name = "variant"

    def __init__(
        self,
        settings: VariantsSettings,
        book: VariantBook,
        live: LiveVariants,
        experiments: ExperimentRegistry | None = None,
        shadow: ShadowOrchestrator | None = None,
        classifier: QueryClassifier | None = None,
    ) -> None:
        self._header = settings.header.lower()
        self._book = book
        self._live = live
        self._experiments = experiments
        self._shadow = shadow
        self._query_routing = settings.query_routing
        self._classifier = classifier or RuleClassifier()
        # Idle means no work: no variants, no routing, no experiments, no shadow.
        self._idle = not book.definitions and not settings.query_routing

    async def __call__(self, call: Call, call_next: Handler) -> Response:
        if call.kind != "chat" or (self._idle and not self._busy() and not self._asked(call)):
            return await call_next(call)
        route = call.model
        variant = self._requested(call)  # may drop a "variant" field from the body
        original = call.body
        if variant is None and self._experiments is not None:
            experiment = self._experiments.running.get(route)
            if experiment is not None:
                subject = self._subject(call, experiment.subject)
                variant = assign(experiment.id, subject, experiment.weights())
                call.metadata["experiment"] = experiment.id
        if variant is None and self._book.definitions:
            variant = await self._live.get(route)
        body = original
        if variant is not None:
            call.variant = variant
            body = await self._book.apply(variant, original)
        routing = self._query_routing.get(route)
        if routing and body.get("model") == route:
            query_class = self._classifier.classify(last_user_text(body.get("messages")))
            target = routing.get(query_class)
            call.metadata["query_class"] = query_class
            if target is not None:
                body = dict(body)
                body["model"] = target
        if body.get("model") != route:
            call.metadata["requested_model"] = route  # the record's model is the one used
        call.body = body
        session = None
        if self._shadow is not None and variant is not None:
            await self._shadow.refresh()  # the shared test, at most a second old
            session = self._shadow.wants(variant, self._subject(call, "conversation"))
        if session is None:
            return await call_next(call)
        started = time.perf_counter()
        response = await call_next(call)
        return self._observe(call, response, session, original, started)

    def _busy(self) -> bool:
        return bool(self._experiments and self._experiments.running) or bool(
            self._shadow is not None and self._shadow.session is not None
        )

    def _asked(self, call: Call) -> bool:
        """Whether the client named a variant (refused when none is configured)."""
        return self._header in call.headers or "variant" in call.body or "variant" in call.metadata

    def _requested(self, call: Call) -> str | None:
        named = call.headers.get(self._header)
        if named is None:
            raw = call.body.get("variant")
            if raw is not None:
                call.body = {k: v for k, v in call.body.items() if k != "variant"}
                named = str(raw)
        if named is None:
            named = call.metadata.get("variant")
        return named

    @staticmethod
    def _subject(call: Call, kind: str) -> str:
        conversation = call.metadata.get("conversation_id")
        user = call.principal.user or call.body.get("user")
        first, second = (user, conversation) if kind == "user" else (conversation, user)
        return str(first or second or call.request_id)

    def _observe(
        self,
        call: Call,
        response: Response,
        session: ShadowSession,
        original: Mapping[str, Any],
        started: float,
    ) -> Response:
        shadow = self._shadow
        assert shadow is not None

        def offer(body: dict[str, Any] | None, text: str | None) -> None:
            ms = (time.perf_counter() - started) * 1000
            deployment = call.deployment
            cost = None
            if deployment is not None and deployment.price is not None:
                cost = deployment.price.cost(
                    response.usage.input_tokens, response.usage.output_tokens
                )
            shadow.offer(
                ShadowJob(
                    session=session,
                    request_id=call.request_id,
                    body=dict(original),
                    metadata=dict(call.metadata),
                    primary_body=body,
                    primary_text=text,
                    primary_ms=ms,
                    primary_cost=cost,
                )
            )

        if response.chunks is None:
            if "hit" not in str(call.notes.get("cache", "")):  # latency of a hit says nothing
                offer(response.body, answer_text(response.body))
            return response
        response.chunks = _collect(response.chunks, offer)
        return response


async def _collect(
    chunks: AsyncIterator[dict[str, Any]], offer: Any
) -> AsyncIterator[dict[str, Any]]:
    """Pass a stream through, keeping its text; offer the shadow copy once it completes."""
    parts: list[str] = []
    complete = False
    try:
        async for chunk in chunks:
            for choice in chunk.get("choices") or ():
                content = (choice.get("delta") or {}).get("content")
                if isinstance(content, str):
                    parts.append(content)
            yield chunk
        complete = True
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    if complete:
        offer(None, "".join(parts))
