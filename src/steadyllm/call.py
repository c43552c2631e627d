"""What flows through the pipeline: one :class:`Call` in, one :class:`Response` out.

Inside the gateway every request is OpenAI-shaped (``/v1/messages`` is translated at
the edge). Bodies stay plain dicts: the hot path does not build validation models.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from steadyllm.providers.base import Provider

__all__ = [
    "Call",
    "CallKind",
    "Deployment",
    "Price",
    "Principal",
    "Response",
    "StreamOutcome",
    "Usage",
    "close_stream",
]

CallKind = Literal["chat", "embeddings"]
StreamOutcome = Literal["complete", "cut", "client_gone"]


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    input_per_million: float
    output_per_million: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (
            input_tokens * self.input_per_million + output_tokens * self.output_per_million
        ) / 1_000_000


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: resolved by the auth stage."""

    tenant: str = "default"
    user: str | None = None
    key_id: str | None = None
    tier: str = "default"
    allowed_models: frozenset[str] | None = None  # None: every model


@dataclass(slots=True, eq=False)
class Deployment:
    """One upstream that can serve a model: a provider instance plus its settings."""

    name: str  # unique, e.g. "fast/openai:llama-3.1-8b-instant#0"
    model_group: str  # the name clients send as "model"
    upstream_model: str  # the model name sent to the provider
    provider: Provider
    price: Price | None
    weight: float = 1.0
    context_window: int | None = None


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_openai(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
        }

    @classmethod
    def from_openai(cls, usage: Mapping[str, Any] | None) -> Usage:
        if not usage:
            return cls()
        return cls(
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
        )


@dataclass(slots=True, eq=False)
class Call:
    """One client request on its way through the stages.

    Stages read what they need and write what they decide: ``principal`` (auth),
    ``plan`` and ``deployment`` (route / fallback), ``notes`` for the call record.
    """

    request_id: str
    kind: CallKind
    body: dict[str, Any]  # OpenAI request body; body["model"] is what the client asked for
    headers: Mapping[str, str] = field(default_factory=dict)  # incoming, lower-case names
    principal: Principal = field(default_factory=Principal)
    variant: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    plan: list[Deployment] = field(default_factory=list)  # candidates, in order
    deployment: Deployment | None = None
    fallback_path: list[str] = field(default_factory=list)  # deployments tried, in order
    attempts: int = 0
    upstream_seconds: float = 0.0  # time spent waiting on upstreams, for the overhead figure
    received_at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)
    response_headers: dict[str, str] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)  # stage annotations for the record

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


@dataclass(slots=True, eq=False)
class Response:
    """What the pipeline returns: a whole body, or a stream of OpenAI chunks.

    For a stream, ``chunks`` yields OpenAI ``chat.completion.chunk`` dicts. The
    provider has already read up to the first content token before returning, so
    a failure before it surfaces as an exception from the pipeline (and can fail
    over); a failure after it is raised from the iterator as ``UpstreamFailure``
    with ``kind="stream_cut"``. ``usage`` and ``outcome`` are complete once the
    iterator is exhausted.
    """

    body: dict[str, Any] | None = None
    chunks: AsyncIterator[dict[str, Any]] | None = None
    usage: Usage = field(default_factory=Usage)
    deployment: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    first_token_at: float | None = None  # perf_counter at the first content token
    outcome: StreamOutcome = "complete"
    cost: float | None = None  # USD, once known

    @property
    def is_stream(self) -> bool:
        return self.chunks is not None


async def close_stream(chunks: AsyncIterator[Any] | None) -> None:
    """Close a stream of chunks (and, through each stage's wrapper, the upstream).

    ``async for`` does not close what it iterates when it is left early, so every
    wrapper closes its inner stream in ``finally``; this is the one way to do it.
    """
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
