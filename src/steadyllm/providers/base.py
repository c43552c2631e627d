"""Providers: one small class per upstream wire format, found through a registry.

A provider turns an OpenAI-shaped :class:`~steadyllm.call.Call` into an upstream
request and the upstream's answer back into an OpenAI-shaped
:class:`~steadyllm.call.Response`. It makes exactly one attempt: retries,
breakers and fallbacks belong to their stages. Every failure is raised as
:class:`~steadyllm.errors.UpstreamFailure`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, Protocol

from steadyllm.call import Call, Deployment, Response, Usage
from steadyllm.config import ConfigError, DeploymentSettings
from steadyllm.errors import GatewayError, UpstreamFailure

__all__ = [
    "Provider",
    "create_provider",
    "has_content",
    "primed_stream",
    "provider_names",
    "register_provider",
    "upstream_body",
]


class Provider(Protocol):
    kind: ClassVar[str]

    async def chat(self, call: Call, deployment: Deployment) -> Response:
        """One attempt. For ``stream: true`` return a primed stream (see ``primed_stream``)."""
        ...

    async def embed(self, call: Call, deployment: Deployment) -> Response: ...

    async def list_models(self) -> list[str]: ...

    async def aclose(self) -> None: ...


ProviderFactory = Callable[[DeploymentSettings], Provider]
_REGISTRY: dict[str, ProviderFactory] = {}


def register_provider(kind: str) -> Callable[[ProviderFactory], ProviderFactory]:
    def decorator(factory: ProviderFactory) -> ProviderFactory:
        _REGISTRY[kind] = factory
        return factory

    return decorator


def provider_names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def create_provider(settings: DeploymentSettings) -> Provider:
    """Build the provider named by ``settings.provider`` (call inside the event loop)."""
    _load_builtin()
    factory = _REGISTRY.get(settings.provider)
    if factory is None:
        raise ConfigError(
            f"unknown provider {settings.provider!r} (known: {', '.join(sorted(_REGISTRY))})"
        )
    return factory(settings)


def _load_builtin() -> None:
    # Importing registers them; kept lazy so importing this module stays cheap.
    # llamacpp imports llama_cpp only when a model loads.
    from steadyllm.providers import anthropic, llamacpp, openai, sim  # noqa: F401


def upstream_body(call: Call, deployment: Deployment) -> dict[str, Any]:
    """The request body for one attempt: the call's body with the upstream model name.

    The call's own body is never mutated: it is reused by retries and fallbacks.
    """
    body = dict(call.body)
    body["model"] = deployment.upstream_model
    for private in ("variant", "metadata_steadyllm"):
        body.pop(private, None)
    return body


def has_content(chunk: dict[str, Any]) -> bool:
    """True for a chunk that carries answer content (text, a tool call) or a finish."""
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("tool_calls") or delta.get("refusal"):
            return True
        if choice.get("finish_reason"):
            return True
    return False


async def primed_stream(
    source: AsyncIterator[dict[str, Any]],
    *,
    deployment: str,
    first_token_timeout: float,
    on_close: Callable[[], Any] | None = None,
) -> Response:
    """Read ``source`` up to its first content chunk, then hand the rest out.

    A failure or timeout before the first content token raises here, so the
    caller can still retry or fail over. After it, a failure is raised from the
    returned iterator as ``UpstreamFailure(kind="stream_cut")``. ``usage`` is
    taken from any chunk carrying it; ``outcome`` says whether the stream ended
    properly.
    """
    response = Response(deployment=deployment)
    buffered: list[dict[str, Any]] = []
    iterator = source.__aiter__()
    ended = False

    async def read_until_content() -> None:
        nonlocal ended
        while True:
            try:
                chunk = await iterator.__anext__()
            except StopAsyncIteration:
                ended = True
                return
            buffered.append(chunk)
            if chunk.get("usage"):
                response.usage = Usage.from_openai(chunk["usage"])
            if has_content(chunk):
                response.first_token_at = time.perf_counter()
                return

    try:
        await asyncio.wait_for(read_until_content(), timeout=first_token_timeout)
    except TimeoutError:
        await _close(iterator, on_close)
        raise UpstreamFailure(
            f"no first token from {deployment} within {first_token_timeout:g}s",
            kind="timeout",
            deployment=deployment,
        ) from None
    except BaseException:
        await _close(iterator, on_close)
        raise
    if ended and not buffered:
        await _close(iterator, on_close)
        raise UpstreamFailure(
            f"{deployment} closed the stream without sending anything",
            kind="malformed",
            deployment=deployment,
        )

    async def rest() -> AsyncIterator[dict[str, Any]]:
        try:
            for chunk in buffered:
                yield chunk
            buffered.clear()
            if ended:
                return
            while True:
                try:
                    chunk = await iterator.__anext__()
                except StopAsyncIteration:
                    return
                except GatewayError as exc:
                    response.outcome = "cut"
                    raise UpstreamFailure(
                        f"stream from {deployment} broke after it started: {exc.message}",
                        kind="stream_cut",
                        deployment=deployment,
                    ) from exc
                if chunk.get("usage"):
                    response.usage = Usage.from_openai(chunk["usage"])
                if response.first_token_at is None and has_content(chunk):
                    response.first_token_at = time.perf_counter()
                yield chunk
        finally:
            await _close(iterator, on_close)

    response.chunks = rest()
    return response


async def _close(iterator: AsyncIterator[Any], on_close: Callable[[], Any] | None) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        # Closing a broken stream may fail again; it is closed either way.
        with contextlib.suppress(Exception):
            await aclose()
    if on_close is not None:
        result = on_close()
        if asyncio.iscoroutine(result):
            await result
