"""The ``llamacpp`` provider: a GGUF model run in this process by llama-cpp-python.

The model is loaded once, on the first request (in a worker thread, through
:class:`~steadyllm.lazy.Lazy`), and shared by every request to the deployment.
A llama.cpp context is not re-entrant, so one generation runs at a time; the
others wait their turn in a queue of at most ``llamacpp.max_queue`` requests for
at most ``llamacpp.queue_timeout`` seconds. A full queue answers 503 with
Retry-After and a long wait times out (both retryable, so a fallback can take the
call). For parallel decoding, run llama.cpp's own server (``--parallel N``) behind
the ``openai`` provider instead.

Generation runs in a worker thread; a stream is relayed chunk by chunk, and a
client that goes away stops the generation at the next token. Each call leaves
``call.notes["inference"]`` (queue time, TTFT, tokens/s, CPU, memory; see
:mod:`steadyllm.local.telemetry`), and :meth:`telemetry_snapshot` reports the model.

``llama_cpp`` (extra ``local``) is imported only when the model loads; this
module owns it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, ClassVar, Protocol, cast

from steadyllm.call import Call, Deployment, Response, Usage
from steadyllm.config import ConfigError, DeploymentSettings
from steadyllm.errors import UpstreamFailure
from steadyllm.lazy import Lazy
from steadyllm.local.settings import LlamaCppSettings
from steadyllm.local.telemetry import Generation, InferenceStats, inference_note, resident_bytes
from steadyllm.providers.base import primed_stream, register_provider

__all__ = ["Engine", "EngineLoader", "LlamaCppProvider", "load_llama"]

# OpenAI chat parameters that llama-cpp-python's create_chat_completion takes as is.
_PASSED = (
    "temperature",
    "top_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "tools",
    "tool_choice",
    "logprobs",
    "top_logprobs",
)
_END = object()


class Engine(Protocol):
    """What the provider uses of ``llama_cpp.Llama``."""

    n_tokens: int

    def create_chat_completion(self, **kwargs: Any) -> Any: ...

    def create_embedding(self, input: str | list[str], model: str | None = None) -> Any: ...

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]: ...

    def close(self) -> None: ...


EngineLoader = Callable[[str, LlamaCppSettings], Engine]


def load_llama(path: str, settings: LlamaCppSettings) -> Engine:
    """Load ``path`` with llama-cpp-python (blocking: seconds to minutes)."""
    from llama_cpp import Llama

    options: dict[str, Any] = {
        "model_path": path,
        "n_ctx": settings.n_ctx,
        "n_gpu_layers": settings.n_gpu_layers,
        "embedding": settings.embedding,
        "verbose": False,
    }
    if settings.n_threads is not None:
        options["n_threads"] = settings.n_threads
    if settings.chat_format is not None:
        options["chat_format"] = settings.chat_format
    if settings.seed is not None:
        options["seed"] = settings.seed
    # cast: llama_cpp's own signatures are narrower than the few calls used here.
    return cast(Engine, Llama(**options))


@register_provider("llamacpp")
class LlamaCppProvider:
    """One GGUF model in this process, loaded on first use, one generation at a time."""

    kind: ClassVar[str] = "llamacpp"

    def __init__(self, settings: DeploymentSettings, *, loader: EngineLoader | None = None):
        self._settings = settings.llamacpp
        self._timeouts = settings.timeout  # first_token (streams) and total, after the queue
        self._model_name = settings.model
        self.model_path = settings.llamacpp.model_path or settings.model
        label = settings.name or f"llamacpp:{settings.model}"
        if loader is None:
            if importlib.util.find_spec("llama_cpp") is None:
                raise ConfigError(
                    f"deployment {label!r}: provider llamacpp needs llama-cpp-python "
                    "(pip install 'steadyllm[local]')"
                )
            if not Path(self.model_path).is_file():
                raise ConfigError(
                    f"deployment {label!r}: no GGUF model file at {self.model_path!r} "
                    "(set llamacpp.model_path, or model to the file's path)"
                )
            loader = load_llama
        load = loader
        path, local = self.model_path, self._settings
        self._engine: Lazy[Engine] = Lazy(lambda: load(path, local), close=_close_engine)
        self._turn = asyncio.Semaphore(1)
        self._waiting = 0
        self._generation_seconds = 0.0  # total, for the Retry-After estimate
        self.stats = InferenceStats()

    # --- the provider protocol ------------------------------------------------------------

    async def chat(self, call: Call, deployment: Deployment) -> Response:
        kwargs = _chat_kwargs(call, deployment, self._settings)
        if self._settings.embedding:
            raise _refused(deployment.name, "this llamacpp deployment is loaded for embeddings")
        queue_seconds = await self._wait_turn(deployment.name)
        generation = Generation(started=time.perf_counter())
        try:
            engine = await self._load(generation, deployment.name)
        except BaseException:
            self._turn.release()
            raise
        if call.stream:
            return await self._stream(call, deployment, engine, kwargs, generation, queue_seconds)
        result = await self._in_thread(
            deployment.name,
            generation,
            lambda: engine.create_chat_completion(**kwargs, stream=False),
        )
        if not isinstance(result, dict) or not isinstance(result.get("choices"), list):
            self.stats.failed += 1
            raise UpstreamFailure(
                f"{deployment.name}: llama.cpp returned no choices",
                kind="malformed",
                deployment=deployment.name,
            )
        usage = Usage.from_openai(result.get("usage"))
        generation.prompt_tokens, generation.completion_tokens = (
            usage.input_tokens,
            usage.output_tokens,
        )
        self._note(call, deployment, generation, queue_seconds)
        return Response(body=result, usage=usage, deployment=deployment.name)

    async def embed(self, call: Call, deployment: Deployment) -> Response:
        if not self._settings.embedding:
            raise _refused(
                deployment.name, "this llamacpp deployment serves chat (set llamacpp.embedding)"
            )
        text = call.body.get("input")
        if not isinstance(text, (str, list)) or not all(isinstance(t, str) for t in text):
            raise _refused(deployment.name, "the llamacpp provider embeds text, not token ids")
        queue_seconds = await self._wait_turn(deployment.name)
        generation = Generation(started=time.perf_counter())
        try:
            engine = await self._load(generation, deployment.name)
        except BaseException:
            self._turn.release()
            raise
        model = deployment.upstream_model
        result = await self._in_thread(
            deployment.name, generation, lambda: engine.create_embedding(text, model=model)
        )
        usage = Usage(input_tokens=int((result.get("usage") or {}).get("prompt_tokens") or 0))
        generation.prompt_tokens = usage.input_tokens
        self._note(call, deployment, generation, queue_seconds)
        return Response(body=result, usage=usage, deployment=deployment.name)

    async def list_models(self) -> list[str]:
        return [self._model_name]

    async def aclose(self) -> None:
        await asyncio.to_thread(self._engine.reset)

    def telemetry_snapshot(self) -> dict[str, Any]:
        """The model and its queue now, with running totals (cheap: no I/O)."""
        return {
            "provider": self.kind,
            "model": self._model_name,
            "model_path": self.model_path,
            "loaded": self._engine.loaded,
            "loads": self._engine.loads,
            "load_failures": self._engine.failures,
            "load_seconds": (
                round(self._engine.load_seconds, 3)
                if self._engine.load_seconds is not None
                else None
            ),
            "in_flight": 1 if self._turn.locked() else 0,
            "queued": self._waiting,
            "max_concurrency": 1,
            "max_queue": self._settings.max_queue,
            **self.stats.to_dict(),
        }

    # --- turns, loading, threads -------------------------------------------------------------

    async def _wait_turn(self, name: str) -> float:
        """Queue for the model; the seconds waited. The caller must release the turn."""
        if self._turn.locked() and self._waiting >= self._settings.max_queue:
            self.stats.rejected += 1
            done = self.stats.completed
            mean = self._generation_seconds / done if done else 1.0
            raise UpstreamFailure(
                f"{name}: the local model is busy and its queue is full ({self._waiting} waiting)",
                kind="status",
                deployment=name,
                upstream_status=503,
                retry_after=max(1.0, mean * (self._waiting + 1)),
            )
        started = time.perf_counter()
        self._waiting += 1
        try:
            async with asyncio.timeout(self._settings.queue_timeout):
                await self._turn.acquire()
        except TimeoutError:
            self.stats.timed_out += 1
            raise UpstreamFailure(
                f"{name}: waited {self._settings.queue_timeout:g}s for the local model",
                kind="timeout",
                deployment=name,
            ) from None
        finally:
            self._waiting -= 1
        return time.perf_counter() - started

    async def _load(self, generation: Generation, name: str) -> Engine:
        loads = self._engine.loads
        try:
            engine = await self._engine.get()
        except Exception as exc:
            self.stats.failed += 1
            raise UpstreamFailure(
                f"{name}: loading {self.model_path} failed: {exc}",
                kind="status",
                deployment=name,
                upstream_status=500,
            ) from exc
        if self._engine.loads != loads and self._engine.load_seconds is not None:
            generation.load_seconds = self._engine.load_seconds
        return engine

    def _releaser(self) -> Callable[[], None]:
        """Give the turn back from any thread, once, on the loop that owns the semaphore."""
        loop = asyncio.get_running_loop()
        released = threading.Event()

        def release() -> None:
            if released.is_set():
                return
            released.set()
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
                loop.call_soon_threadsafe(self._turn.release)

        return release

    async def _in_thread(self, name: str, generation: Generation, work: Callable[[], Any]) -> Any:
        """Run ``work`` in a thread holding the turn, which it gives back when it ends
        (also when the caller stopped waiting: the model is busy until then)."""
        release = self._releaser()

        def run() -> Any:
            cpu = time.process_time()
            try:
                return work()
            finally:
                generation.cpu_seconds = time.process_time() - cpu
                generation.finished = time.perf_counter()
                generation.rss_bytes = resident_bytes()
                release()

        try:
            future = asyncio.get_running_loop().run_in_executor(None, run)
        except BaseException:
            release()
            raise
        try:
            async with asyncio.timeout(self._timeouts.total):
                return await future
        except TimeoutError:
            self.stats.failed += 1
            raise UpstreamFailure(
                f"{name}: no answer from the local model within {self._timeouts.total:g}s",
                kind="timeout",
                deployment=name,
            ) from None
        except Exception as exc:
            self.stats.failed += 1
            raise _engine_failure(name, exc) from exc

    async def _stream(
        self,
        call: Call,
        deployment: Deployment,
        engine: Engine,
        kwargs: dict[str, Any],
        generation: Generation,
        queue_seconds: float,
    ) -> Response:
        name = deployment.name
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()  # at most n_ctx chunks: bounded by the model
        cancel = threading.Event()
        release = self._releaser()

        def put(item: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed under a shutdown
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def run() -> None:
            cpu = time.process_time()
            try:
                _generate(engine, kwargs, generation, cancel, put)
            except BaseException as exc:
                put(exc)
            finally:
                generation.cpu_seconds = time.process_time() - cpu
                generation.finished = time.perf_counter()
                generation.rss_bytes = resident_bytes()
                release()
                put(_END)

        try:
            threading.Thread(target=run, name=f"llamacpp:{name}", daemon=True).start()
        except BaseException:
            release()
            raise

        async def relay() -> AsyncIterator[dict[str, Any]]:
            ended = False
            try:
                while True:
                    item = await queue.get()
                    if item is _END:
                        ended = True
                        self._note(call, deployment, generation, queue_seconds)
                        return
                    if isinstance(item, BaseException):
                        ended = True
                        self.stats.failed += 1
                        raise _engine_failure(name, item) from item
                    yield item
            finally:
                cancel.set()
                if not ended:
                    self.stats.cancelled += 1

        return await primed_stream(
            relay(), deployment=name, first_token_timeout=self._timeouts.first_token
        )

    def _note(
        self, call: Call, deployment: Deployment, generation: Generation, queue_seconds: float
    ) -> None:
        note = inference_note(
            generation, provider=self.kind, deployment=deployment.name, queue_seconds=queue_seconds
        )
        call.notes["inference"] = note
        self.stats.finished(note)
        if generation.finished is not None:
            self._generation_seconds += generation.finished - generation.started


def _generate(
    engine: Engine,
    kwargs: dict[str, Any],
    generation: Generation,
    cancel: threading.Event,
    put: Callable[[Any], None],
) -> None:
    """Stream one chat completion into ``put``, then a usage chunk (in a worker thread)."""
    chunks = engine.create_chat_completion(**kwargs, stream=True)
    text: list[str] = []
    finish: str | None = None
    first: dict[str, Any] | None = None
    try:
        for chunk in chunks:
            if cancel.is_set():
                return
            first = first or chunk
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                content = delta.get("content")
                if content:
                    text.append(content)
                    if generation.first_token is None:
                        generation.first_token = time.perf_counter()
                finish = choice.get("finish_reason") or finish
            put(chunk)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    # Streams carry no usage: count the answer's tokens, and the prompt's from what the
    # context holds (the last sampled token is evaluated only when the answer was cut).
    written = "".join(text)
    completion = len(engine.tokenize(written.encode(), False, False)) if written else 0
    generation.completion_tokens = completion
    generation.prompt_tokens = max(0, engine.n_tokens - completion + (finish == "length"))
    usage = Usage(generation.prompt_tokens, completion)
    put(
        {
            "id": (first or {}).get("id", "chatcmpl-llamacpp"),
            "object": "chat.completion.chunk",
            "created": (first or {}).get("created", int(time.time())),
            "model": kwargs["model"],
            "choices": [],
            "usage": usage.to_openai(),
        }
    )


def _chat_kwargs(call: Call, deployment: Deployment, settings: LlamaCppSettings) -> dict[str, Any]:
    body = call.body
    if int(body.get("n") or 1) != 1:
        raise _refused(deployment.name, "the llamacpp provider answers with one choice (n=1)")
    kwargs: dict[str, Any] = {
        "messages": [_flat_message(m, deployment.name) for m in body["messages"]],
        "model": deployment.upstream_model,
    }
    for key in _PASSED:
        if body.get(key) is not None:
            kwargs[key] = body[key]
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        kwargs["max_tokens"] = int(max_tokens)
    if isinstance(body.get("logit_bias"), dict):
        kwargs["logit_bias"] = {int(k): float(v) for k, v in body["logit_bias"].items()}
    if "seed" not in kwargs and settings.seed is not None:
        kwargs["seed"] = settings.seed
    return kwargs


def _flat_message(message: dict[str, Any], name: str) -> dict[str, Any]:
    """Text parts joined into one string: chat templates expect string content."""
    content = message.get("content")
    if not isinstance(content, list):
        return message
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text":
            raise _refused(name, "the llamacpp provider takes text content only")
        texts.append(str(part.get("text", "")))
    return {**message, "content": "".join(texts)}


def _refused(name: str, message: str) -> UpstreamFailure:
    return UpstreamFailure(
        f"{name}: {message}", kind="status", deployment=name, upstream_status=400
    )


def _engine_failure(name: str, exc: BaseException) -> UpstreamFailure:
    if isinstance(exc, UpstreamFailure):
        return exc
    message = str(exc) or type(exc).__name__
    if isinstance(exc, ValueError) and "context window" in message:
        return _refused(name, message)  # the prompt is longer than n_ctx
    return UpstreamFailure(
        f"{name}: llama.cpp failed: {message}",
        kind="status",
        deployment=name,
        upstream_status=500,
    )


def _close_engine(engine: Engine) -> None:
    engine.close()
