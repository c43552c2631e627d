"""The in-process semantic index: which cached query is most like this one?

One small index per (tenant, scope) — a scope is the hash of the model, variant,
parameters and earlier messages — so a lookup only ever compares queries whose
answers could stand in for each other. All indexes together hold at most
``max_entries`` queries; past that the least recently added go first.

- Jaccard: an inverted index from words to entries. A lookup reads only the posting
  lists of the query's rarest words: with threshold ``t`` a match must share at
  least ``ceil(t * |q|)`` of the query's ``|q|`` words, so it must contain one of its
  ``|q| - ceil(t * |q|) + 1`` rarest (prefix filtering), and its size must lie in
  ``[t * |q|, |q| / t]``. Only those candidates are scored exactly.
- Embeddings: a matrix of unit vectors (numpy, float32) per index; a lookup is one
  matrix-vector product, over the nearest partitions only once an index holds more
  than 20,000 queries (see ``_EmbeddingScope``).

Every candidate above the threshold then goes through the meaning guard
(:mod:`steadyllm.policy.meaning_guard`), best first.
"""

from __future__ import annotations

import math
import sys
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from steadyllm.policy.meaning_guard import Meaning, conflict, meaning_of
from steadyllm.policy.similarity import word_set

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vector = npt.NDArray[np.float32]
else:
    Vector = Any

__all__ = ["Match", "SemanticIndex"]

MatcherName = Literal["jaccard", "embedding"]


@dataclass(frozen=True, slots=True)
class Match:
    key: str
    similarity: float


class _Scope(Protocol):
    variant: str | None

    def __len__(self) -> int: ...

    def add(self, key: str, text: str, vector: Vector | None) -> None: ...

    def remove(self, key: str) -> None: ...

    def scored(self, text: str, vector: Vector | None, threshold: float) -> list[Match]: ...


class _JaccardScope:
    def __init__(self, variant: str | None) -> None:
        self.variant = variant
        # Each entry's words as a tuple (a third of a frozenset's memory); scoring
        # intersects the query's set with it, which takes any iterable.
        self._words: dict[str, tuple[str, ...]] = {}
        self._postings: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._words)

    def add(self, key: str, text: str, vector: Vector | None) -> None:
        self.remove(key)
        words = tuple(map(sys.intern, word_set(text)))
        self._words[key] = words
        for word in words:
            self._postings.setdefault(word, set()).add(key)

    def remove(self, key: str) -> None:
        words = self._words.pop(key, None)
        for word in words or ():
            posting = self._postings.get(word)
            if posting is not None:
                posting.discard(key)
                if not posting:
                    del self._postings[word]

    def scored(self, text: str, vector: Vector | None, threshold: float) -> list[Match]:
        query = word_set(text)
        size = len(query)
        if size == 0:
            return []
        overlap = math.ceil(threshold * size - 1e-9)
        rarest = sorted(query, key=lambda w: len(self._postings.get(w, ())))
        candidates: set[str] = set()
        for word in rarest[: size - overlap + 1]:
            candidates.update(self._postings.get(word, ()))
        low, high = threshold * size - 1e-9, size / threshold + 1e-9
        matches = []
        for key in candidates:
            words = self._words[key]
            if not low <= len(words) <= high:
                continue
            common = len(query.intersection(words))
            similarity = common / (size + len(words) - common)
            if similarity >= threshold:
                matches.append(Match(key, similarity))
        return matches


class _Block:
    """Unit vectors in one contiguous float32 matrix (grown by doubling), with their keys."""

    def __init__(self, np: Any, dimensions: int) -> None:
        self._np = np
        self.keys: list[str] = []
        self.matrix: Vector = np.zeros((16, dimensions), dtype=np.float32)

    def append(self, key: str, vector: Vector) -> int:
        row = len(self.keys)
        if row == self.matrix.shape[0]:
            grown = self._np.zeros((row * 2, self.matrix.shape[1]), dtype=self._np.float32)
            grown[:row] = self.matrix
            self.matrix = grown
        self.keys.append(key)
        self.matrix[row] = vector
        return row

    def remove(self, row: int) -> str | None:
        """Drop ``row``; the key moved into it from the end, if any."""
        last = len(self.keys) - 1
        moved = None
        if row != last:
            moved = self.keys[last]
            self.keys[row] = moved
            self.matrix[row] = self.matrix[last]
        self.keys.pop()
        return moved

    def best(self, vector: Vector, threshold: float, top: int) -> list[Match]:
        count = len(self.keys)
        if count == 0:
            return []
        similarities = self.matrix[:count] @ vector
        if count > top:
            chosen = self._np.argpartition(similarities, count - top)[count - top :]
        else:
            chosen = range(count)
        return [
            Match(self.keys[int(i)], float(similarities[i]))
            for i in chosen
            if similarities[i] >= threshold
        ]


class _EmbeddingScope:
    """Unit vectors; past ``_FLAT_LIMIT`` of them, split into partitions searched by nearness.

    A flat scan reads every vector: at 100,000 x 384 float32 that is 150 MB per
    lookup, over 10 ms on memory bandwidth alone. So once a scope grows past
    ``_FLAT_LIMIT`` it is split, once, into about ``sqrt(5 n)`` partitions, each its
    own contiguous matrix (centroids from one k-means step on a sample; later vectors
    join their nearest centroid), and a lookup scores only the partitions nearest
    the query. A match above a high threshold is a near neighbour, which sits in one
    of those; ``benchmarks/bench_cache.py`` measures the recall.
    """

    _TOP = 8  # candidates kept from each block, best first
    _FLAT_LIMIT = 20_000
    _SAMPLE = 20_000  # vectors the centroids are fitted on

    def __init__(self, variant: str | None) -> None:
        import numpy

        self._np = numpy
        self.variant = variant
        self._blocks: list[_Block] = []
        self._where: dict[str, tuple[int, int]] = {}  # key -> (block, row)
        self._centroids: Any = None  # (partitions, dimensions) once partitioned
        self._probes = 1

    def __len__(self) -> int:
        return len(self._where)

    def add(self, key: str, text: str, vector: Vector | None) -> None:
        if vector is None:
            raise ValueError("the embedding index needs the query's vector")
        self.remove(key)
        if not self._blocks:
            self._blocks.append(_Block(self._np, int(vector.shape[0])))
        block = 0 if self._centroids is None else int(self._np.argmax(self._centroids @ vector))
        self._where[key] = (block, self._blocks[block].append(key, vector))
        if self._centroids is None and len(self._where) > self._FLAT_LIMIT:
            self._partition()

    def remove(self, key: str) -> None:
        where = self._where.pop(key, None)
        if where is None:
            return
        block, row = where
        moved = self._blocks[block].remove(row)
        if moved is not None:
            self._where[moved] = (block, row)

    def _partition(self) -> None:
        np = self._np
        flat = self._blocks[0]
        count = len(flat.keys)
        vectors = flat.matrix[:count]
        rng = np.random.default_rng(count)
        parts = max(16, int(math.sqrt(5 * count)))
        sample = vectors[rng.choice(count, size=min(count, self._SAMPLE), replace=False)]
        centroids = sample[rng.choice(len(sample), size=parts, replace=False)].copy()
        nearest = np.argmax(sample @ centroids.T, axis=1)  # one k-means step
        for part in range(parts):
            members = sample[nearest == part]
            if len(members):
                mean = members.mean(axis=0)
                centroids[part] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        blocks = [_Block(np, vectors.shape[1]) for _ in range(parts)]
        where: dict[str, tuple[int, int]] = {}
        for start in range(0, count, 8192):
            chunk = vectors[start : start + 8192]
            for offset, part in enumerate(np.argmax(chunk @ centroids.T, axis=1)):
                key = flat.keys[start + offset]
                where[key] = (int(part), blocks[int(part)].append(key, chunk[offset]))
        self._centroids, self._blocks, self._where = centroids, blocks, where
        self._probes = max(8, parts // 12)

    def scored(self, text: str, vector: Vector | None, threshold: float) -> list[Match]:
        if vector is None or not self._where:
            return []
        if self._centroids is None:
            return self._blocks[0].best(vector, threshold, self._TOP)
        np = self._np
        nearness = self._centroids @ vector
        probes = np.argpartition(nearness, -self._probes)[-self._probes :]
        found: list[Match] = []
        for part in probes:
            found.extend(self._blocks[int(part)].best(vector, threshold, self._TOP))
        return found


def _interned(words: frozenset[str]) -> frozenset[str]:
    """``words`` as the one shared copy of each string: 100,000 cached queries use a
    few thousand distinct words, and a private copy of each word in each entry was
    most of the index's memory."""
    return frozenset(map(sys.intern, words))


def _stored_meaning(text: str) -> Meaning:
    """What the guard needs of a cached query, its word strings shared (see above)."""
    meaning = meaning_of(text)
    return replace(meaning, words=_interned(meaning.words), names=_interned(meaning.names))


@dataclass(slots=True)
class _Indexed:
    tenant: str
    scope: str
    meaning: Meaning
    fresh_until: float


class SemanticIndex:
    """Every (tenant, scope) index of one gateway, bounded together."""

    def __init__(
        self, *, matcher: MatcherName, threshold: float, guard: bool, max_entries: int
    ) -> None:
        self.matcher: MatcherName = matcher
        self.threshold = threshold
        self.guard = guard
        self._max_entries = max_entries
        self._scopes: dict[tuple[str, str], _Scope] = {}
        self._entries: OrderedDict[str, _Indexed] = OrderedDict()  # key -> where, oldest first
        self.guard_refusals: dict[str, int] = {}  # why the guard refused, counted

    def __len__(self) -> int:
        return len(self._entries)

    def has_scope(self, tenant: str, scope: str) -> bool:
        return (tenant, scope) in self._scopes

    def _new_scope(self, variant: str | None) -> _Scope:
        if self.matcher == "embedding":
            return _EmbeddingScope(variant)
        return _JaccardScope(variant)

    def add(
        self,
        *,
        tenant: str,
        scope: str,
        variant: str | None,
        key: str,
        text: str,
        fresh_until: float,
        vector: Vector | None = None,
    ) -> None:
        """Index one cached query (replacing an older one under the same key)."""
        self.remove(key)
        tenant, scope = sys.intern(tenant), sys.intern(scope)  # one copy per scope
        index = self._scopes.get((tenant, scope))
        if index is None:
            index = self._scopes[(tenant, scope)] = self._new_scope(variant)
        index.add(key, text, vector)
        self._entries[key] = _Indexed(tenant, scope, _stored_meaning(text), fresh_until)
        while len(self._entries) > self._max_entries:
            self.remove(next(iter(self._entries)))

    def remove(self, key: str) -> None:
        where = self._entries.pop(key, None)
        if where is None:
            return
        index = self._scopes.get((where.tenant, where.scope))
        if index is not None:
            index.remove(key)
            if len(index) == 0:
                del self._scopes[(where.tenant, where.scope)]

    def search(
        self,
        *,
        tenant: str,
        scope: str,
        text: str,
        now: float,
        vector: Vector | None = None,
        limit: int = 3,
    ) -> list[Match]:
        """Up to ``limit`` fresh entries like ``text`` that the guard allows, best first."""
        index = self._scopes.get((tenant, scope))
        if index is None:
            return []
        scored = index.scored(text, vector, self.threshold)
        scored.sort(key=lambda m: (-m.similarity, m.key))
        query_meaning = meaning_of(text) if self.guard and scored else None
        found: list[Match] = []
        for match in scored:
            where = self._entries.get(match.key)
            if where is None or where.fresh_until <= now:
                continue
            if query_meaning is not None:
                why = conflict(query_meaning, where.meaning)
                if why is not None:
                    self.guard_refusals[why] = self.guard_refusals.get(why, 0) + 1
                    continue
            found.append(match)
            if len(found) >= limit:
                break
        return found

    def clear(self, *, variant: str | None = None, fresh_before: float | None = None) -> int:
        doomed = [
            key
            for key, where in self._entries.items()
            if (variant is None or self._variant_of(where) == variant)
            and (fresh_before is None or where.fresh_until <= fresh_before)
        ]
        for key in doomed:
            self.remove(key)
        return len(doomed)

    def _variant_of(self, where: _Indexed) -> str | None:
        index = self._scopes.get((where.tenant, where.scope))
        return None if index is None else index.variant

    def purge(self, now: float) -> None:
        """Forget entries that are no longer fresh."""
        self.clear(fresh_before=now)
