"""A stand-in for ``llama_cpp.Llama``: the same calls, scripted answers, no model."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from steadyllm.local.settings import LlamaCppSettings


class FakeEngine:
    """Answers each chat with ``letters``, one letter per token (and per chunk)."""

    def __init__(self, letters: str = "abc", gate: threading.Event | None = None) -> None:
        self.letters = letters
        self.gate = gate  # when set: generation waits on it before its second token
        self.started = threading.Event()
        self.n_tokens = 0
        self.calls: list[dict[str, Any]] = []
        self.yielded = 0
        self.fail: BaseException | None = None
        self.closed = False

    def _prompt_tokens(self, messages: list[dict[str, Any]]) -> int:
        return sum(len(str(m.get("content", "")).split()) for m in messages)

    def create_chat_completion(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        self.started.set()
        if self.fail is not None:
            raise self.fail
        prompt = self._prompt_tokens(kwargs["messages"])
        if kwargs.get("stream"):
            return self._chunks(kwargs, prompt)
        if self.gate is not None:
            self.gate.wait(5)
        self.n_tokens = prompt + len(self.letters)
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1,
            "model": kwargs["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.letters},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": len(self.letters),
                "total_tokens": prompt + len(self.letters),
            },
        }

    def _chunks(self, kwargs: dict[str, Any], prompt: int) -> Iterator[dict[str, Any]]:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": kwargs["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        yield chunk({"role": "assistant"})
        for index, letter in enumerate(self.letters):
            if index == 1 and self.gate is not None:
                self.gate.wait(5)
            self.n_tokens = prompt + index  # the last sampled token is not evaluated yet
            self.yielded += 1
            yield chunk({"content": letter})
        self.n_tokens = prompt + len(self.letters)  # EOS sampled after the last letter
        yield chunk({}, "stop")

    def create_embedding(self, input: str | list[str], model: str | None = None) -> Any:
        texts = [input] if isinstance(input, str) else input
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0]}
                for i, t in enumerate(texts)
            ],
            "model": model,
            "usage": {"prompt_tokens": len(texts) * 2, "total_tokens": len(texts) * 2},
        }

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return list(text)  # one token per letter, as the answers are built

    def close(self) -> None:
        self.closed = True


class CountingLoader:
    """Loads ``engine`` and counts how often it was asked to."""

    def __init__(self, engine: FakeEngine, *, fail_times: int = 0) -> None:
        self.engine = engine
        self.loads: list[str] = []
        self.fail_times = fail_times

    def __call__(self, path: str, settings: LlamaCppSettings) -> FakeEngine:
        self.loads.append(path)
        if len(self.loads) <= self.fail_times:
            raise RuntimeError("not a GGUF file")
        return self.engine
