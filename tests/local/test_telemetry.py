"""Inference telemetry arithmetic (pure)."""

from __future__ import annotations

import pytest

from steadyllm.local.telemetry import Generation, InferenceStats, inference_note


@pytest.mark.parametrize(
    ("generation", "speed"),
    [
        # streamed: tokens after the first over the time after the first
        (Generation(started=0.0, first_token=1.0, finished=3.0, completion_tokens=21), 10.0),
        # not streamed: all tokens over the generation, the model load left out
        (Generation(started=0.0, load_seconds=2.0, finished=6.0, completion_tokens=20), 5.0),
        # one streamed token: no decode interval, so over the whole generation
        (Generation(started=0.0, first_token=0.5, finished=0.5, completion_tokens=1), 2.0),
        (Generation(started=0.0, finished=1.0, completion_tokens=0), None),
        (Generation(started=0.0, completion_tokens=5), None),
    ],
)
def test_tokens_per_second(generation: Generation, speed: float | None) -> None:
    assert generation.tokens_per_second() == speed


def test_note_in_milliseconds() -> None:
    generation = Generation(
        started=10.0,
        load_seconds=0.5,
        first_token=10.75,
        finished=11.75,
        prompt_tokens=12,
        completion_tokens=11,
        cpu_seconds=1.9,
        rss_bytes=123,
    )
    note = inference_note(generation, provider="llamacpp", deployment="d", queue_seconds=0.25)
    assert note == {
        "provider": "llamacpp",
        "deployment": "d",
        "queue_ms": 250.0,
        "load_ms": 500.0,
        "ttft_ms": 750.0,
        "generation_ms": 1750.0,
        "prompt_tokens": 12,
        "completion_tokens": 11,
        "tokens_per_second": 10.0,
        "cpu_seconds": 1.9,
        "rss_bytes": 123,
    }


def test_running_totals_smooth_the_speed() -> None:
    stats = InferenceStats()
    for speed in (10.0, 20.0):
        note = {
            "prompt_tokens": 3,
            "completion_tokens": 4,
            "queue_ms": 100.0,
            "tokens_per_second": speed,
            "ttft_ms": None,
            "rss_bytes": None,
        }
        stats.finished(note)
    report = stats.to_dict()
    assert report["completed"] == 2
    assert (report["prompt_tokens"], report["completion_tokens"]) == (6, 8)
    assert report["mean_queue_ms"] == 100.0
    assert report["last_tokens_per_second"] == 20.0
    assert report["smoothed_tokens_per_second"] == 12.0  # 10 + 0.2 * (20 - 10)
    assert InferenceStats().to_dict()["mean_queue_ms"] is None
