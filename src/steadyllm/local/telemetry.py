"""Inference telemetry: what one local generation cost, and running totals per model.

Per call, the provider writes ``call.notes["inference"]`` (see :func:`inference_note`)
for the call record and the metrics derived from it::

    queue_ms            waiting for the model's turn
    load_ms             loading the model, when this call loaded it (else 0)
    ttft_ms             turn start to the first content token (streams)
    generation_ms       turn start to the last token
    prompt_tokens       tokens read
    completion_tokens   tokens written
    tokens_per_second   decode speed: tokens after the first over the time after it
                        (streams), or completion tokens over generation time
    cpu_seconds         process CPU time spent while generating
    rss_bytes           the process's resident memory after generating

``InferenceStats`` keeps bounded running totals for ``telemetry_snapshot()``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

__all__ = ["Generation", "InferenceStats", "inference_note", "resident_bytes"]

_EWMA = 0.2  # weight of the newest figure in the smoothed tokens/s


def resident_bytes() -> int | None:
    """The process's resident set size, or None where it cannot be read."""
    try:
        import psutil

        return int(psutil.Process(os.getpid()).memory_info().rss)
    except Exception:  # a platform psutil does not cover
        return None


@dataclass(slots=True)
class Generation:
    """Timings and counts of one generation (perf_counter seconds)."""

    started: float  # the turn began (after the queue, before any model load)
    load_seconds: float = 0.0
    first_token: float | None = None
    finished: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cpu_seconds: float = 0.0
    rss_bytes: int | None = None

    def tokens_per_second(self) -> float | None:
        if self.finished is None or self.completion_tokens == 0:
            return None
        if self.first_token is not None and self.completion_tokens > 1:
            decode = self.finished - self.first_token
            if decode > 0:
                return (self.completion_tokens - 1) / decode
        total = self.finished - self.started - self.load_seconds
        return self.completion_tokens / total if total > 0 else None


def inference_note(
    generation: Generation, *, provider: str, deployment: str, queue_seconds: float
) -> dict[str, Any]:
    def ms(seconds: float | None) -> float | None:
        return round(seconds * 1000, 3) if seconds is not None else None

    speed = generation.tokens_per_second()
    return {
        "provider": provider,
        "deployment": deployment,
        "queue_ms": ms(queue_seconds),
        "load_ms": ms(generation.load_seconds),
        "ttft_ms": ms(
            generation.first_token - generation.started
            if generation.first_token is not None
            else None
        ),
        "generation_ms": ms(
            generation.finished - generation.started if generation.finished is not None else None
        ),
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "tokens_per_second": round(speed, 3) if speed is not None else None,
        "cpu_seconds": round(generation.cpu_seconds, 4),
        "rss_bytes": generation.rss_bytes,
    }


class InferenceStats:
    """Running totals for one local model (a few numbers: bounded by construction)."""

    def __init__(self) -> None:
        self.completed = 0
        self.failed = 0
        self.rejected = 0  # queue full
        self.timed_out = 0  # waited longer than the queue timeout
        self.cancelled = 0  # stream abandoned by the client before it ended
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.queue_seconds_total = 0.0
        self.last_tokens_per_second: float | None = None
        self.smoothed_tokens_per_second: float | None = None
        self.last_ttft_ms: float | None = None
        self.last_rss_bytes: int | None = None

    def finished(self, note: dict[str, Any]) -> None:
        self.completed += 1
        self.prompt_tokens += int(note["prompt_tokens"])
        self.completion_tokens += int(note["completion_tokens"])
        self.queue_seconds_total += (note["queue_ms"] or 0.0) / 1000
        speed = note["tokens_per_second"]
        if speed is not None:
            self.last_tokens_per_second = speed
            previous = self.smoothed_tokens_per_second
            self.smoothed_tokens_per_second = (
                speed if previous is None else previous + _EWMA * (speed - previous)
            )
        if note["ttft_ms"] is not None:
            self.last_ttft_ms = note["ttft_ms"]
        if note["rss_bytes"] is not None:
            self.last_rss_bytes = note["rss_bytes"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "completed": self.completed,
            "failed": self.failed,
            "rejected": self.rejected,
            "timed_out": self.timed_out,
            "cancelled": self.cancelled,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "mean_queue_ms": (
                round(self.queue_seconds_total / self.completed * 1000, 3)
                if self.completed
                else None
            ),
            "last_tokens_per_second": self.last_tokens_per_second,
            "smoothed_tokens_per_second": (
                round(self.smoothed_tokens_per_second, 3)
                if self.smoothed_tokens_per_second is not None
                else None
            ),
            "last_ttft_ms": self.last_ttft_ms,
            "rss_bytes": self.last_rss_bytes,
        }
