"""Load for the fault suite: plain and streamed chat requests, each one's outcome kept.

Unlike ``post_many`` this reads streams to their end, records how each request ended
(status, error shape, ``[DONE]`` or an error event, a client-side timeout), and lets
the scenario act mid-load (``Load.completed`` is the number of requests finished).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import orjson

ERROR_FIELDS = {"message", "type", "param", "code"}


@dataclass(slots=True)
class Outcome:
    """How one request ended, as its client saw it."""

    stream: bool
    status: int = 0  # 0: no HTTP answer (the client timed out or the connection broke)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # the JSON body of a plain answer or of an error
    events: list[Any] = field(default_factory=list)  # a stream's parsed events
    done: bool = False  # a stream ended with [DONE]
    transport: str | None = None  # the client's own failure (timeout, reset)
    elapsed: float = 0.0

    @property
    def served(self) -> bool:
        """A whole answer: 200 and, for a stream, its end marker."""
        return self.status == 200 and (self.done or not self.stream)

    @property
    def cut(self) -> bool:
        """A stream that started (200) and ended with an explicit error event."""
        return (
            self.stream
            and self.status == 200
            and not self.done
            and bool(self.events)
            and isinstance(self.events[-1], dict)
            and "error" in self.events[-1]
        )

    @property
    def clean_error(self) -> bool:
        """An OpenAI-shaped error answer."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return self.status >= 400 and isinstance(error, dict) and set(error) >= ERROR_FIELDS

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-request-id")


def chat_body(index: int, *, stream: bool, model: str = "chat", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": f"request {index}: say something"}],
        "max_tokens": 8,
        **extra,
    }
    if stream:
        body["stream"] = True
    return body


async def send(
    session: aiohttp.ClientSession,
    url: str,
    body: Mapping[str, Any],
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
) -> Outcome:
    outcome = Outcome(stream=bool(body.get("stream")))
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            async with session.post(url, json=body, headers=headers) as response:
                outcome.status = response.status
                outcome.headers = {k.lower(): v for k, v in response.headers.items()}
                streamed = response.content_type == "text/event-stream"
                if response.status == 200 and streamed:
                    async for raw in response.content:
                        line = raw.decode().strip()
                        if not line.startswith("data: "):
                            continue
                        data = line[len("data: ") :]
                        if data == "[DONE]":
                            outcome.done = True
                        else:
                            outcome.events.append(orjson.loads(data))
                else:
                    outcome.body = orjson.loads(await response.read())
    except TimeoutError:
        outcome.transport = "timeout"
    except aiohttp.ClientError as exc:
        outcome.transport = type(exc).__name__
    outcome.elapsed = time.perf_counter() - started
    return outcome


class Load:
    """``bodies`` sent with ``concurrency`` workers; ``await load.run()`` returns every
    outcome, in the order of ``bodies``."""

    def __init__(
        self,
        url: str,
        bodies: Sequence[Mapping[str, Any]],
        *,
        concurrency: int,
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url
        self.bodies = bodies
        self.concurrency = concurrency
        self.timeout = timeout
        self.headers = headers
        self.completed = 0
        self._waiting: dict[int, asyncio.Event] = {}

    async def run(self) -> list[Outcome]:
        results: list[Outcome | None] = [None] * len(self.bodies)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(len(self.bodies)):
            queue.put_nowait(index)
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                while not queue.empty():
                    index = queue.get_nowait()
                    results[index] = await send(
                        session,
                        self.url,
                        self.bodies[index],
                        timeout=self.timeout,
                        headers=self.headers,
                    )
                    self.completed += 1
                    for count, event in self._waiting.items():
                        if self.completed >= count:
                            event.set()

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        return [r for r in results if r is not None]

    async def reached(self, count: int, *, limit: float = 60.0) -> None:
        """Wait until ``count`` requests have finished (at most ``limit`` seconds)."""
        if self.completed >= count:
            return
        event = self._waiting.setdefault(count, asyncio.Event())
        async with asyncio.timeout(limit):
            await event.wait()


def stored_records(gateway_url: str) -> list[dict[str, Any]]:
    """Every call record of the gateway, after writing out what is still buffered."""
    answer = httpx.get(
        f"{gateway_url}/api/calls", params={"flush": "true", "limit": "10000"}, timeout=30
    )
    answer.raise_for_status()
    records: list[dict[str, Any]] = answer.json()["data"]
    return records


def records_lost(outcomes: Sequence[Outcome], records: Sequence[Mapping[str, Any]]) -> int:
    """Requests sent minus call records stored (every request must leave one)."""
    return len(outcomes) - len(records)
