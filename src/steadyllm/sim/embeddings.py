"""Embeddings from the simulated upstream: deterministic unit vectors, OpenAI-shaped.

Each vector is the normalised sum of per-token vectors drawn from a hash of the
lower-cased token (the :mod:`~steadyllm.sim.tokenizer` rule), so equal texts get
equal vectors and texts sharing words point in similar directions, which is what
a semantic cache test needs. Dimension 64 unless the request asks ``dimensions``.
"""

from __future__ import annotations

import base64
import random
import struct
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from steadyllm.sim.generation import SimRequestError, positive_int, require_model
from steadyllm.sim.tokenizer import tokenize

__all__ = ["DEFAULT_DIMENSIONS", "embed_text", "embeddings_reply"]

DEFAULT_DIMENSIONS = 64


def embeddings_reply(body: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAI embeddings body answering ``body`` (float or base64 encoding).

    Each vector is the normalised sum of per-token vectors drawn from a hash of
    the lower-cased token, so equal texts get equal vectors and texts sharing
    words point in similar directions. Usage counts the input tokens (an input
    given as token ids counts one per id).
    """
    model = require_model(body)
    dimensions = positive_int(body, "dimensions", limit=8192) or DEFAULT_DIMENSIONS
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise SimRequestError("encoding_format must be float or base64", param="encoding_format")
    data = []
    total = 0
    for index, tokens in enumerate(_embedding_inputs(body.get("input"))):
        vector = _embed_tokens(tuple(tokens), dimensions)
        total += len(tokens)
        embedding: list[float] | str = list(vector)
        if encoding == "base64":
            packed = struct.pack(f"<{dimensions}f", *vector)
            embedding = base64.b64encode(packed).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": total, "total_tokens": total},
    }


def embed_text(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The unit vector the simulator gives ``text``."""
    return list(_embed_tokens(tuple(tokenize(text)), dimensions))


def _embedding_inputs(raw: Any) -> list[list[str]]:
    if isinstance(raw, str):
        return [tokenize(raw)]
    if isinstance(raw, list) and raw:
        if all(isinstance(item, str) for item in raw):
            return [tokenize(item) for item in raw]
        if all(isinstance(item, int) and not isinstance(item, bool) for item in raw):
            return [[str(item) for item in raw]]
        if all(isinstance(item, list) and item for item in raw) and all(
            isinstance(token, int) for item in raw for token in item
        ):
            return [[str(token) for token in item] for item in raw]
    raise SimRequestError(
        "input must be a string, an array of strings, or token arrays", param="input"
    )


@lru_cache(maxsize=1024)
def _embed_tokens(tokens: tuple[str, ...], dimensions: int) -> tuple[float, ...]:
    total = [0.0] * dimensions
    for token in tokens or ("",):
        for axis, value in enumerate(_token_vector(token.lower(), dimensions)):
            total[axis] += value
    norm = sum(value * value for value in total) ** 0.5 or 1.0
    return tuple(value / norm for value in total)


@lru_cache(maxsize=8192)
def _token_vector(token: str, dimensions: int) -> tuple[float, ...]:
    rng = random.Random(f"embed:{token}")
    return tuple(rng.gauss(0.0, 1.0) for _ in range(dimensions))
