"""The ``sim`` provider: answers in-process from the simulator's engine, with no HTTP.

It honours ``DeploymentSettings.sim``: ``latency_ms`` plus a uniform draw in
``[0, latency_jitter_ms]`` before each answer, ``token_delay_ms`` between stream
chunks, and ``seed``, which salts the engine (two seeds answer differently) and
seeds the latency draws. Answers are those of :mod:`steadyllm.sim.engine`, markers
included. A request the engine refuses fails as an upstream 400, and the api key
``sim-invalid-key`` as an upstream 401, just as the HTTP simulator answers them.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, TypeVar

from steadyllm.call import Call, Deployment, Response, Usage
from steadyllm.config import DeploymentSettings
from steadyllm.errors import UpstreamFailure
from steadyllm.providers.base import primed_stream, register_provider, upstream_body
from steadyllm.sim.engine import (
    INVALID_API_KEY,
    SimRequestError,
    chat_chunks,
    chat_reply,
    embeddings_reply,
)

__all__ = ["SimProvider"]

_T = TypeVar("_T")


@register_provider("sim")
class SimProvider:
    """A provider whose upstream is the deterministic simulator, in this process."""

    kind: ClassVar[str] = "sim"

    def __init__(self, settings: DeploymentSettings) -> None:
        self._settings = settings
        self._rng = random.Random(settings.sim.seed)

    async def chat(self, call: Call, deployment: Deployment) -> Response:
        body = upstream_body(call, deployment)
        self._check_key(deployment)
        await self._wait()
        salt = self._settings.sim.seed
        created = int(time.time())
        if not call.stream:
            reply = self._answer(deployment, lambda: chat_reply(body, salt=salt, created=created))
            usage = Usage.from_openai(reply["usage"])
            return Response(body=reply, usage=usage, deployment=deployment.name)
        # Usage is always produced: the gateway needs it even when the client did not
        # ask for it, and the server decides what the client sees.
        chunks = self._answer(
            deployment,
            lambda: chat_chunks(body, salt=salt, created=created, include_usage=True),
        )
        return await primed_stream(
            self._emit(chunks),
            deployment=deployment.name,
            first_token_timeout=self._settings.timeout.first_token,
        )

    async def embed(self, call: Call, deployment: Deployment) -> Response:
        body = upstream_body(call, deployment)
        self._check_key(deployment)
        await self._wait()
        reply = self._answer(deployment, lambda: embeddings_reply(body))
        usage = Usage(input_tokens=int(reply["usage"]["prompt_tokens"]))
        return Response(body=reply, usage=usage, deployment=deployment.name)

    async def list_models(self) -> list[str]:
        return [self._settings.model]

    async def aclose(self) -> None:
        return None  # nothing is held open

    def _check_key(self, deployment: Deployment) -> None:
        key = self._settings.api_key
        if key is not None and key.get_secret_value() == INVALID_API_KEY:
            raise UpstreamFailure(
                "Incorrect API key provided (simulated).",
                kind="status",
                deployment=deployment.name,
                upstream_status=401,
            )

    def _answer(self, deployment: Deployment, make: Callable[[], _T]) -> _T:
        try:
            return make()
        except SimRequestError as exc:
            raise UpstreamFailure(
                exc.message,
                kind="status",
                deployment=deployment.name,
                upstream_status=400,
                param=exc.param,
            ) from None

    async def _wait(self) -> None:
        sim = self._settings.sim
        milliseconds = sim.latency_ms
        if sim.latency_jitter_ms > 0:
            milliseconds += self._rng.uniform(0.0, sim.latency_jitter_ms)
        if milliseconds > 0:
            await asyncio.sleep(milliseconds / 1000)

    async def _emit(self, chunks: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        delay = self._settings.sim.token_delay_ms / 1000
        for index, chunk in enumerate(chunks):
            if index and delay > 0:
                await asyncio.sleep(delay)
            yield chunk
