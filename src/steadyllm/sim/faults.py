"""What goes wrong at the simulated upstream: a fault plan, and the pure decision over it.

A :class:`FaultPlan` is an immutable value: a rate (0..1) for each fault kind, the
latency to add, and a script (``fail_next``) for outages a test wants to control
exactly. :func:`decide` draws one request's fate from an injected
``random.Random`` (the server seeds its own from the plan's ``seed``) and returns
a :class:`FaultDecision`, including the plan for the next request (``fail_next``
counted down); the server only carries it out.

Fault kinds, the plan field holding each one's rate, and what the server does:

``"500"``, ``"502"``, ``"503"`` (``rate_500``, ``rate_502``, ``rate_503``)
    That status with an error body (OpenAI shape, Anthropic shape on ``/v1/messages``).
``"429"`` (``rate_429``)
    Status 429 with ``Retry-After`` (whole seconds, rounded up) and
    ``retry-after-ms`` headers from ``retry_after``.
``"hang"`` (``hang_rate``)
    Nothing is sent for ``hang_seconds``, then the connection is closed.
``"reset"`` (``reset_rate``)
    The connection is closed without a response.
``"malformed"`` (``malformed_rate``)
    Status 200 with a body that is not JSON (streams: an event whose data is not JSON).
``"stream_cut"`` (``stream_cut_rate``)
    Streams: the connection closes after ``cut_after_chunks`` events, before the end
    marker. Plain answers: it closes halfway through the body.

Latency before any answer is ``latency_ms`` plus either a uniform draw in
``[0, jitter_ms]`` or, when ``latency_p50_ms`` is set, a lognormal draw
with that median and ``latency_p95_ms`` as its 95th percentile (clamped at ten
times the p95, so one draw cannot stall a test). Streams also wait
``token_delay_ms`` between events.

For a command line, :meth:`FaultPlan.from_spec` reads ``"503=0.2,reset=0.05,
latency_ms=20"``; a JSON body (``PUT /sim/faults``) goes through
:meth:`FaultPlan.from_dict`. Both accept the fault kinds as names of their rates.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, get_args

__all__ = ["FAULT_KINDS", "FaultDecision", "FaultKind", "FaultPlan", "decide", "latency_seconds"]

FaultKind = Literal["500", "502", "503", "429", "hang", "reset", "malformed", "stream_cut"]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)

# The field holding each kind's rate; the order is the order draws are tested in.
_RATE_FIELDS: dict[FaultKind, str] = {
    "500": "rate_500",
    "502": "rate_502",
    "503": "rate_503",
    "429": "rate_429",
    "hang": "hang_rate",
    "reset": "reset_rate",
    "malformed": "malformed_rate",
    "stream_cut": "stream_cut_rate",
}
_ALIASES: dict[str, str] = {str(kind): name for kind, name in _RATE_FIELDS.items()}
_Z95 = 1.6448536269514722  # the standard normal's 95th percentile
_LATENCY_CLAMP = 10.0  # a lognormal draw never exceeds this many p95s
_ROUNDING = 1e-9


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultPlan:
    """How the simulated upstream misbehaves. All rates are fractions of requests."""

    rate_500: float = 0.0
    rate_502: float = 0.0
    rate_503: float = 0.0
    rate_429: float = 0.0
    retry_after: float = 1.0  # seconds, sent with 429
    hang_rate: float = 0.0
    hang_seconds: float = 30.0
    reset_rate: float = 0.0
    malformed_rate: float = 0.0
    stream_cut_rate: float = 0.0
    cut_after_chunks: int = 3
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    token_delay_ms: float = 0.0
    fail_next: int = 0  # the next N requests fail with fail_kind, whatever the rates
    fail_kind: FaultKind = "503"
    seed: int = 0  # of the fault and latency draws; installing a plan restarts them

    def __post_init__(self) -> None:
        for name in (*_RATE_FIELDS.values(), "retry_after", "hang_seconds", "latency_ms"):
            _check_non_negative(name, getattr(self, name))
        for name in ("jitter_ms", "token_delay_ms", "cut_after_chunks", "fail_next"):
            _check_non_negative(name, getattr(self, name))
        for kind, name in _RATE_FIELDS.items():
            if getattr(self, name) > 1:
                raise ValueError(f"{name}: the rate of {kind} must be between 0 and 1")
        if self.total_rate > 1 + _ROUNDING:
            raise ValueError(f"the fault rates add up to {self.total_rate:g}; at most 1")
        if self.fail_kind not in FAULT_KINDS:
            raise ValueError(f"fail_kind: must be one of {', '.join(FAULT_KINDS)}")
        p50, p95 = self.latency_p50_ms, self.latency_p95_ms
        if p95 is not None and p50 is None:
            raise ValueError("latency_p95_ms needs latency_p50_ms")
        if p50 is not None:
            if not (math.isfinite(p50) and p50 > 0):
                raise ValueError("latency_p50_ms: must be a positive number")
            if p95 is not None and not (math.isfinite(p95) and p95 >= p50):
                raise ValueError("latency_p95_ms: must be at least latency_p50_ms")
            if self.jitter_ms:
                raise ValueError("set jitter_ms or latency_p50_ms, not both")

    @property
    def total_rate(self) -> float:
        return sum(self.rate(kind) for kind in FAULT_KINDS)

    def rate(self, kind: FaultKind) -> float:
        value: float = getattr(self, _RATE_FIELDS[kind])
        return value

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultPlan:
        """A plan from a JSON-like mapping; unknown keys and wrong types raise ``ValueError``.

        Keys are the field names, or a fault kind for its rate (``{"503": 0.2}``).
        """
        if not isinstance(data, Mapping):
            raise ValueError("a fault plan must be a JSON object")
        known = {field.name: field for field in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = _ALIASES.get(key, key)
            if name not in known:
                raise ValueError(f"{key}: not a fault plan field (known: {', '.join(known)})")
            values[name] = _coerce(name, value)
        return cls(**values)

    @classmethod
    def from_spec(cls, spec: str) -> FaultPlan:
        """A plan from ``"key=value,key=value"``, as a command-line option gives it."""
        data: dict[str, Any] = {}
        for item in spec.split(","):
            if not item.strip():
                continue
            key, sep, raw = item.partition("=")
            if not sep:
                raise ValueError(f"{item.strip()!r}: expected key=value")
            data[key.strip()] = _parse_scalar(raw.strip())
        return cls.from_dict(data)


@dataclass(frozen=True, slots=True)
class FaultDecision:
    fault: FaultKind | None  # None: answer normally
    delay: float  # seconds to wait before answering (or failing)
    plan: FaultPlan  # the plan for the next request


def decide(plan: FaultPlan, rng: random.Random) -> FaultDecision:
    """One request's fate under ``plan``."""
    delay = latency_seconds(plan, rng)
    if plan.fail_next > 0:
        return FaultDecision(plan.fail_kind, delay, replace(plan, fail_next=plan.fail_next - 1))
    active = [(kind, plan.rate(kind)) for kind in FAULT_KINDS if plan.rate(kind) > 0]
    if not active:
        return FaultDecision(None, delay, plan)
    draw = rng.random()
    edge = 0.0
    for kind, rate in active:
        edge += rate
        if draw < edge:
            return FaultDecision(kind, delay, plan)
    if edge >= 1 - _ROUNDING:  # rates meant to add up to 1 may fall short in floating point
        return FaultDecision(active[-1][0], delay, plan)
    return FaultDecision(None, delay, plan)


def latency_seconds(plan: FaultPlan, rng: random.Random) -> float:
    milliseconds = plan.latency_ms
    if plan.latency_p50_ms is not None:
        p50 = plan.latency_p50_ms
        p95 = plan.latency_p95_ms if plan.latency_p95_ms is not None else p50
        sigma = (math.log(p95) - math.log(p50)) / _Z95
        drawn = rng.lognormvariate(math.log(p50), sigma) if sigma > 0 else p50
        milliseconds += min(drawn, _LATENCY_CLAMP * p95)
    elif plan.jitter_ms > 0:
        milliseconds += rng.uniform(0.0, plan.jitter_ms)
    return milliseconds / 1000.0


def _check_non_negative(name: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: must be a finite number, at least 0")


_INT_FIELDS = frozenset({"cut_after_chunks", "fail_next", "seed"})
_OPTIONAL_FIELDS = frozenset({"latency_p50_ms", "latency_p95_ms"})


def _coerce(name: str, value: Any) -> Any:
    if name == "fail_kind":
        kind = str(value)  # a JSON number (503) names the status as well as "503" does
        if kind not in FAULT_KINDS:
            raise ValueError(f"fail_kind: must be one of {', '.join(FAULT_KINDS)}")
        return kind
    if value is None and name in _OPTIONAL_FIELDS:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: must be a number")
    if name in _INT_FIELDS:
        if value != int(value):
            raise ValueError(f"{name}: must be a whole number")
        return int(value)
    return float(value)


def _parse_scalar(raw: str) -> Any:
    if raw.lower() in ("none", "null", ""):
        return None
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            continue
    return raw
