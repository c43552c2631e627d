"""The local copy of a shared hash (live variants, the running shadow test) is never
more than ``ttl`` older than Redis, counted from when the read was *sent*.

Regression: the copy's age counted from when a read came back, so a change made while a
slow read was on its way could be ignored for ``ttl`` plus the read's own time.
"""

from __future__ import annotations

from collections.abc import Callable

from steadyllm.variants.live import SharedHash


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class SlowRedis:
    """``hgetall`` answers what the hash held when it was asked, 0.5 s later."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.data = {"fast": "baseline"}
        self.while_reading: Callable[[], None] | None = None

    async def hgetall(self, key: str) -> dict[bytes, bytes]:
        seen = {k.encode(): v.encode() for k, v in self.data.items()}
        if self.while_reading is not None:
            self.while_reading()
            self.while_reading = None
        self.clock.now += 0.5
        return seen


async def test_a_change_during_a_slow_read_is_seen_within_ttl() -> None:
    clock = Clock()
    redis = SlowRedis(clock)
    shared = SharedHash(redis, "live", ttl=1.0, clock=clock)

    def promote() -> None:  # another replica, 0.1 s into the read
        clock.now += 0.1
        redis.data["fast"] = "candidate"

    redis.while_reading = promote
    assert (await shared.cached())["fast"] == "baseline"  # sent at 0, back at 0.6
    clock.now = 0.1 + 1.01  # just over a second after the change
    assert (await shared.cached())["fast"] == "candidate"
