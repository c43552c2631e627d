"""The simulated upstream as an aiohttp application: endpoints, faults, admin.

Serves ``POST /v1/chat/completions`` (plain and streamed), ``POST /v1/embeddings``,
``GET /v1/models`` and ``POST /v1/messages`` (Anthropic, plain and streamed), with
answers from :mod:`steadyllm.sim.engine` and misbehaviour from the current
:class:`~steadyllm.sim.faults.FaultPlan`. Admin endpoints, never faulted or counted:

``GET /sim/faults`` / ``PUT /sim/faults``
    Read, or replace, the fault plan (a JSON object as ``FaultPlan.from_dict``
    takes; 400 when it is not one).
``POST /sim/reset``
    Zero the counters.
``GET /sim/stats``
    Requests per endpoint and per outcome, streams, auth headers seen, and the
    models of the last 100 requests (see :class:`~steadyllm.sim.stats.SimStats`).
``GET /sim/requests``
    The last 100 request bodies and headers (secrets masked).

Every response carries ``x-simulator: steadyllm-sim``. No key is needed, but the
key ``sim-invalid-key`` (bearer or ``x-api-key``) is refused with 401. A body that
is not a JSON object, or a request the engine refuses, gets 400. Errors have the
OpenAI shape, or the Anthropic shape on ``/v1/messages``. A request that fails
auth or validation does not use up a fault.

To run it, see :mod:`steadyllm.sim.server`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from steadyllm.sim.engine import (
    INVALID_API_KEY,
    SimRequestError,
    chat_chunks,
    chat_reply,
    embeddings_reply,
    messages_events,
    messages_reply,
)
from steadyllm.sim.faults import FaultPlan, decide
from steadyllm.sim.stats import SimStats
from steadyllm.sim.wire import (
    BROKEN_BODY,
    DONE,
    Wire,
    anthropic_event,
    broken_stream,
    error_body,
    openai_event,
    retry_after_headers,
)

__all__ = [
    "DEFAULT_MODELS",
    "SIMULATOR_HEADER",
    "SIM_STATE",
    "SimState",
    "create_sim_app",
]

DEFAULT_MODELS = ("sim-fast", "sim-smart", "sim-embed")
SIMULATOR_HEADER = "x-simulator"
SIMULATOR_NAME = "steadyllm-sim"
MAX_BODY_BYTES = 64 * 1024 * 1024  # larger than any gateway limit, so the gateway's own applies

_OUTCOMES = {"stream_cut": "cut"}  # the stats name of a fault, where it differs


class SimState:
    """What a running simulator changes: the plan, the random source, the counters."""

    def __init__(self, plan: FaultPlan, *, answer_seed: int, models: Sequence[str]) -> None:
        self.answer_seed = answer_seed  # salts the engine: two seeds answer differently
        self.models = tuple(models)
        self.stats = SimStats()
        self.closing = asyncio.Event()  # set on shutdown: hangs and token delays end early
        self.install(plan)

    def install(self, plan: FaultPlan) -> None:
        """Put ``plan`` in force; its draws start again from its seed, so a test can replay."""
        self.plan = plan
        self.rng = random.Random(plan.seed)


SIM_STATE = web.AppKey("sim_state", SimState)


@dataclass(frozen=True, slots=True)
class _Answer:
    """The whole answer to one request, before any fault touches it."""

    body: dict[str, Any] | None = None
    events: tuple[bytes, ...] = ()  # encoded SSE events, the end event included


def create_sim_app(
    plan: FaultPlan | None = None,
    *,
    answer_seed: int = 0,
    models: Sequence[str] = DEFAULT_MODELS,
) -> web.Application:
    """The simulator as an aiohttp application.

    ``answer_seed`` salts every answer (the fault draws use ``plan.seed``);
    ``models`` is what ``GET /v1/models`` lists (any model name is answered).
    """
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_label_errors])
    app[SIM_STATE] = SimState(plan or FaultPlan(), answer_seed=answer_seed, models=models)
    app.on_response_prepare.append(_label)
    app.on_shutdown.append(_wake_sleepers)
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_post("/v1/embeddings", _embeddings)
    app.router.add_get("/v1/models", _models)
    app.router.add_post("/v1/messages", _messages)
    app.router.add_get("/sim/faults", _get_faults)
    app.router.add_put("/sim/faults", _put_faults)
    app.router.add_post("/sim/reset", _reset)
    app.router.add_get("/sim/stats", _stats)
    app.router.add_get("/sim/requests", _requests)
    return app


# --- the upstream endpoints --------------------------------------------------------------


def _chat_answer(body: dict[str, Any], state: SimState) -> _Answer:
    created = int(time.time())
    if body.get("stream"):
        chunks = chat_chunks(body, salt=state.answer_seed, created=created)
        return _Answer(events=(*(openai_event(chunk) for chunk in chunks), DONE))
    return _Answer(body=chat_reply(body, salt=state.answer_seed, created=created))


def _messages_answer(body: dict[str, Any], state: SimState) -> _Answer:
    if body.get("stream"):
        return _Answer(
            events=tuple(map(anthropic_event, messages_events(body, salt=state.answer_seed)))
        )
    return _Answer(body=messages_reply(body, salt=state.answer_seed))


def _embeddings_answer(body: dict[str, Any], state: SimState) -> _Answer:
    return _Answer(body=embeddings_reply(body))


def _models_answer(body: dict[str, Any], state: SimState) -> _Answer:
    data = [
        {"id": model, "object": "model", "created": 0, "owned_by": SIMULATOR_NAME}
        for model in state.models
    ]
    return _Answer(body={"object": "list", "data": data})


async def _chat(request: web.Request) -> web.StreamResponse:
    return await _serve(request, "openai", _chat_answer)


async def _embeddings(request: web.Request) -> web.StreamResponse:
    return await _serve(request, "openai", _embeddings_answer)


async def _models(request: web.Request) -> web.StreamResponse:
    return await _serve(request, "openai", _models_answer)


async def _messages(request: web.Request) -> web.StreamResponse:
    return await _serve(request, "anthropic", _messages_answer)


async def _serve(
    request: web.Request,
    wire: Wire,
    build: Callable[[dict[str, Any], SimState], _Answer],
) -> web.StreamResponse:
    """Count the request, build its answer, then let the fault plan spoil it."""
    state = request.app[SIM_STATE]
    endpoint = request.path
    state.stats.received(endpoint, request.headers)
    if INVALID_API_KEY in _api_keys(request.headers):
        state.stats.finished(endpoint, "401")
        return _error(wire, 401, "Incorrect API key provided (simulated).")
    try:
        body: dict[str, Any] = {}
        if request.method == "POST":
            body = await _read_object(request)
            state.stats.read_body(endpoint, body, request.headers)
        answer = build(body, state)
    except SimRequestError as exc:
        state.stats.finished(endpoint, "400")
        return _error(wire, 400, exc.message, param=exc.param)

    plan = state.plan
    decision = decide(plan, state.rng)
    state.plan = decision.plan
    fault = decision.fault
    if decision.delay > 0 and await _pause(state, decision.delay):
        fault = "reset"  # shutting down: nobody will wait for the answer
    state.stats.finished(endpoint, "ok" if fault is None else _OUTCOMES.get(fault, fault))
    if fault is None:
        return await _send(request, answer, plan.token_delay_ms / 1000)
    if fault in ("500", "502", "503", "429"):
        status = int(fault)
        headers = retry_after_headers(plan.retry_after) if status == 429 else None
        return _error(wire, status, f"Simulated upstream error {status}.", headers=headers)
    if fault == "hang":
        await _pause(state, plan.hang_seconds)
        return _drop(request)
    if fault == "reset":
        return _drop(request)
    if fault == "malformed":
        if answer.events:
            return await _send_events(request, broken_stream(wire))
        return web.Response(body=BROKEN_BODY, content_type="application/json")
    return await _send_cut(request, answer, plan.cut_after_chunks, plan.token_delay_ms / 1000)


async def _send(request: web.Request, answer: _Answer, token_delay: float) -> web.StreamResponse:
    if answer.body is not None:
        return _json(answer.body)
    return await _send_events(request, answer.events, token_delay=token_delay)


async def _send_events(
    request: web.Request,
    events: Sequence[bytes],
    *,
    token_delay: float = 0.0,
    cut_after: int | None = None,
) -> web.StreamResponse:
    state = request.app[SIM_STATE]
    response = web.StreamResponse(
        headers={"content-type": "text/event-stream", "cache-control": "no-cache"}
    )
    await response.prepare(request)
    try:
        for index, event in enumerate(events):
            if cut_after is not None and index >= cut_after:
                return _drop(request, response)
            if index and token_delay > 0 and await _pause(state, token_delay):
                return _drop(request, response)
            await response.write(event)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client left; nothing more to send
    return response


async def _send_cut(
    request: web.Request, answer: _Answer, cut_after: int, token_delay: float
) -> web.StreamResponse:
    if answer.events:
        # The end event is never sent, whatever cut_after says: a cut stream has no end.
        limit = min(cut_after, len(answer.events) - 1)
        return await _send_events(request, answer.events, token_delay=token_delay, cut_after=limit)
    payload = orjson.dumps(answer.body)
    response = web.StreamResponse(headers={"content-type": "application/json"})
    response.content_length = len(payload)
    await response.prepare(request)
    await response.write(payload[: len(payload) // 2])
    return _drop(request, response)


def _drop(request: web.Request, response: web.StreamResponse | None = None) -> web.StreamResponse:
    """Close the connection: the client sees a reset, or a body that stops short."""
    if request.transport is not None:
        request.transport.close()
    # Returned only to satisfy aiohttp; with the transport closed nothing more is sent.
    return response if response is not None else web.Response()


async def _pause(state: SimState, seconds: float) -> bool:
    """Sleep ``seconds``; True when the simulator began shutting down meanwhile."""
    if seconds <= 0:
        return state.closing.is_set()
    try:
        await asyncio.wait_for(state.closing.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


async def _read_object(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise SimRequestError("We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict):
        raise SimRequestError("The request body must be a JSON object.")
    return body


def _api_keys(headers: Mapping[str, str]) -> set[str]:
    keys = set()
    if headers.get("x-api-key"):
        keys.add(headers["x-api-key"].strip())
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        keys.add(token.strip())
    return keys


def _error(
    wire: Wire,
    status: int,
    message: str,
    *,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    return _json(error_body(wire, status, message, param), status=status, headers=headers)


def _json(
    payload: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload), status=status, headers=headers, content_type="application/json"
    )


async def _label(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[SIMULATOR_HEADER] = SIMULATOR_NAME


@web.middleware
async def _label_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    # aiohttp's own answers (404, 405) are raised, and skip the on_response_prepare label.
    try:
        return await handler(request)
    except web.HTTPException as exc:
        exc.headers[SIMULATOR_HEADER] = SIMULATOR_NAME
        raise


async def _wake_sleepers(app: web.Application) -> None:
    app[SIM_STATE].closing.set()


# --- admin -------------------------------------------------------------------------------


async def _get_faults(request: web.Request) -> web.Response:
    return _json(request.app[SIM_STATE].plan.to_dict())


async def _put_faults(request: web.Request) -> web.Response:
    try:
        plan = FaultPlan.from_dict(orjson.loads(await request.read()))
    except ValueError as exc:  # orjson.JSONDecodeError is a ValueError too
        return _error("openai", 400, f"invalid fault plan: {exc}")
    request.app[SIM_STATE].install(plan)
    return _json(plan.to_dict())


async def _reset(request: web.Request) -> web.Response:
    stats = request.app[SIM_STATE].stats
    stats.clear()
    return _json(stats.snapshot())


async def _stats(request: web.Request) -> web.Response:
    return _json(request.app[SIM_STATE].stats.snapshot())


async def _requests(request: web.Request) -> web.Response:
    return _json({"requests": list(request.app[SIM_STATE].stats.recent)})
