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
  matrix-vector product.

Every candidate above the threshold then goes through the meaning guard
(:mod:`steadyllm.policy.meaning_guard`), best first.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
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
        self._words: dict[str, frozenset[str]] = {}
        self._postings: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._words)

    def add(self, key: str, text: str, vector: Vector | None) -> None:
        self.remove(key)
        words = word_set(text)
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
            common = len(query & words)
            similarity = common / (size + len(words) - common)
            if similarity >= threshold:
                matches.append(Match(key, similarity))
        return matches


class _EmbeddingScope:
    _TOP = 8  # candidates taken from one product, best first

    def __init__(self, variant: str | None) -> None:
        import numpy

        self._np = numpy
        self.variant = variant
        self._keys: list[str] = []
        self._rows: dict[str, int] = {}
        self._matrix: Vector | None = None

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str, text: str, vector: Vector | None) -> None:
        if vector is None:
            raise ValueError("the embedding index needs the query's vector")
        np = self._np
        row = self._rows.get(key)
        if row is None:
            row = len(self._keys)
            if self._matrix is None:
                self._matrix = np.zeros((16, vector.shape[0]), dtype=np.float32)
            elif row == self._matrix.shape[0]:
                grown = np.zeros((row * 2, self._matrix.shape[1]), dtype=np.float32)
                grown[:row] = self._matrix
                self._matrix = grown
            self._keys.append(key)
            self._rows[key] = row
        assert self._matrix is not None
        self._matrix[row] = vector

    def remove(self, key: str) -> None:
        row = self._rows.pop(key, None)
        if row is None or self._matrix is None:
            return
        last = len(self._keys) - 1
        if row != last:  # move the last row into the hole
            moved = self._keys[last]
            self._keys[row] = moved
            self._rows[moved] = row
            self._matrix[row] = self._matrix[last]
        self._keys.pop()

    def scored(self, text: str, vector: Vector | None, threshold: float) -> list[Match]:
        count = len(self._keys)
        if vector is None or count == 0 or self._matrix is None:
            return []
        np = self._np
        similarities = self._matrix[:count] @ vector
        if count > self._TOP:
            top = np.argpartition(similarities, count - self._TOP)[count - self._TOP :]
        else:
            top = np.arange(count)
        return [
            Match(self._keys[int(i)], float(similarities[i]))
            for i in top
            if similarities[i] >= threshold
        ]


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
        index = self._scopes.get((tenant, scope))
        if index is None:
            index = self._scopes[(tenant, scope)] = self._new_scope(variant)
        index.add(key, text, vector)
        self._entries[key] = _Indexed(tenant, scope, meaning_of(text), fresh_until)
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
