"""A cache stage around a fake upstream, with a clock the test moves."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np

from steadyllm.cache.runtime import ResponseCache
from steadyllm.cache.settings import CacheSettings
from steadyllm.call import Call, Principal, Response, Usage
from steadyllm.errors import ServiceUnavailable, UpstreamFailure
from steadyllm.lazy import Lazy
from steadyllm.pipeline import fold
from steadyllm.stages.cache import CacheStage
from steadyllm.stores.base import CacheStore
from steadyllm.stores.memory import MemoryCacheStore


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Upstream:
    """Answers "answer N to <question>", counting calls; can fail or stream."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail: BaseException | None = None
        self.cut_stream = False
        self.cost = 0.001

    async def __call__(self, call: Call) -> Response:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        question = call.body["messages"][-1]["content"]
        text = f"answer {self.calls} to {question}"
        usage = Usage(input_tokens=10, output_tokens=20)
        if not call.stream:
            body = {
                "id": f"c{self.calls}",
                "object": "chat.completion",
                "created": 1,
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage.to_openai(),
            }
            return Response(body=body, usage=usage, deployment="d1", cost=self.cost)
        response = Response(deployment="d1")
        response.chunks = self._chunks(response, text, usage)
        return response

    async def _chunks(
        self, response: Response, text: str, usage: Usage
    ) -> AsyncIterator[dict[str, Any]]:
        base = {"id": f"c{self.calls}", "object": "chat.completion.chunk", "created": 1}
        yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
        for word in text.split(" "):
            yield {**base, "choices": [{"index": 0, "delta": {"content": word + " "}}]}
            if self.cut_stream:
                response.outcome = "cut"
                raise UpstreamFailure("cut", kind="stream_cut")
        yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        response.usage = usage
        response.cost = self.cost
        yield {**base, "choices": [], "usage": usage.to_openai()}


def unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("no deployment could answer", retry_after=1)


class HashEncoder:
    """A stand-in embedding model: unit bag-of-words vectors over hashed words."""

    def encode(self, texts: Sequence[str]) -> Any:
        rows = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace("?", "").split():
                rows[row, hashlib.sha256(word.encode()).digest()[0] % 64] += 1.0
            rows[row] /= max(float(np.linalg.norm(rows[row])), 1e-9)
        return rows


class Rig:
    """One cache stage with its runtime, store, clock and fake upstream."""

    def __init__(
        self,
        store: CacheStore | None = None,
        clock: Clock | None = None,
        encoder: Any = None,
        **settings: Any,
    ) -> None:
        self.clock = clock or Clock()
        self.store = store if store is not None else MemoryCacheStore()
        self.settings = CacheSettings.model_validate({"max_temperature": 0.5, **settings})
        lazy = Lazy(lambda: encoder) if encoder is not None else None
        self.cache = ResponseCache(self.settings, self.store, clock=self.clock, encoder=lazy)
        self.upstream = Upstream()
        self.handler = fold([CacheStage(self.cache)], self.upstream)

    async def __aenter__(self) -> Rig:
        await self.cache.start()
        await self.cache.wait_idle()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cache.stop()

    def call(
        self,
        question: str,
        *,
        tenant: str = "default",
        stream: bool = False,
        headers: dict[str, str] | None = None,
        variant: str | None = None,
        **params: Any,
    ) -> Call:
        body = {
            "model": "fast",
            "messages": [{"role": "user", "content": question}],
            "temperature": 0,
            **params,
        }
        if stream:
            body["stream"] = True
        call = Call(
            request_id="r",
            kind="chat",
            body=body,
            headers=headers or {},
            principal=Principal(tenant=tenant),
        )
        call.variant = variant
        return call

    async def ask(self, question: str, **kw: Any) -> tuple[Call, Response, str]:
        """Send one question; return the call, the response and the answer text."""
        call = self.call(question, **kw)
        response = await self.handler(call)
        if response.chunks is not None:
            text = ""
            async for chunk in response.chunks:
                for choice in chunk.get("choices") or ():
                    text += (choice.get("delta") or {}).get("content") or ""
            return call, response, text.strip()
        assert response.body is not None
        return call, response, response.body["choices"][0]["message"]["content"]
