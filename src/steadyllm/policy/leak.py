"""System-prompt leaks in an answer: verbatim overlap, light paraphrase, canary tokens.

Three signals, each pure and incremental (a stream is fed chunk by chunk):

- **canary**: a token planted in the system prompt (by the gateway or by the
  application) appears in the answer. Exact, case-insensitive.
- **verbatim**: the answer repeats runs of the system prompt. Words are compared
  after lower-casing and dropping punctuation; every 5-word window of the answer
  that also occurs in the system prompt marks its words as copied. A leak is at
  least ``min_overlap_words`` copied words (or half the prompt, for short prompts).
- **paraphrase**: the answer restates the prompt in other words. Content words
  (no stop words, crudely stemmed) of the prompt are looked for in a sliding window
  of the answer about twice the prompt's length; a leak is a window holding at least
  ``paraphrase_ratio`` of them (and at least eight).

Prompts shorter than eight words are not checked for overlap: there is nothing
to leak that an ordinary answer would not say anyway.
"""

from __future__ import annotations

import math
import re
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "LeakFinding",
    "LeakScanner",
    "LeakVerdict",
    "PromptFingerprint",
    "check_leak",
    "redact_leak",
]

LeakKind = Literal["canary", "verbatim", "paraphrase"]

_SHINGLE = 5
_MIN_PROMPT_WORDS = 8
_MIN_PARAPHRASE_WORDS = 8
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_STOP = frozenset(
    str.split(
        "a an the and or but if then else of to in on at by for with from into onto as is are was "
        "were be been being am do does did done have has had having it its this that these those "
        "there here i me my we our you your yours he she him her they them their what which who "
        "whom "
        "whose when where why how all any both each few more most other some such no nor not "
        "only own "
        "same so than too very can will just should would could may might must shall also about "
        "above after again against below between during before under over up down out off once "
        "further while because until per via etc"
    )
)


def _stem(word: str) -> str:
    """A crude English stem: enough to match "discounts"/"discount", "booked"/"booking"."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def _trailing_word_start(text: str) -> int:
    """Where the word at the very end of ``text`` starts (``len(text)`` if none does)."""
    index = len(text)
    while index and (text[index - 1].isalnum() or text[index - 1] in "'\u2019"):
        index -= 1
    return index


def _words(text: str) -> list[tuple[str, int, int]]:
    return [
        (m.group(0).lower().replace("\u2019", "'"), m.start(), m.end())
        for m in _WORD.finditer(text)
    ]


@dataclass(frozen=True, slots=True)
class PromptFingerprint:
    """What an answer is compared with; built once per distinct system prompt."""

    words: int
    shingles: frozenset[tuple[str, ...]]
    content: frozenset[str]
    canaries: tuple[str, ...]

    @classmethod
    def of(cls, system_prompt: str, *, canaries: tuple[str, ...] = ()) -> PromptFingerprint:
        tokens = [w for w, _, _ in _words(system_prompt)]
        shingles = frozenset(
            tuple(tokens[i : i + _SHINGLE]) for i in range(len(tokens) - _SHINGLE + 1)
        )
        content = frozenset(_stem(w) for w in tokens if w not in _STOP and len(w) > 2)
        present = tuple(c for c in canaries if c)
        return cls(len(tokens), shingles, content, present)


@dataclass(frozen=True, slots=True)
class LeakFinding:
    kind: LeakKind
    score: float  # verbatim: copied words; paraphrase: share of the prompt's words; canary: 1
    excerpt: str


@dataclass(frozen=True, slots=True)
class LeakVerdict:
    findings: tuple[LeakFinding, ...] = ()

    @property
    def leaked(self) -> bool:
        return bool(self.findings)

    @property
    def kinds(self) -> tuple[LeakKind, ...]:
        return tuple(f.kind for f in self.findings)


@dataclass(slots=True)
class LeakScanner:
    """Feeds an answer in pieces; reports the first time each signal crosses its line.

    ``verdict`` is cumulative. The work per piece is proportional to its new words.
    """

    fingerprint: PromptFingerprint
    min_overlap_words: int = 12
    paraphrase_ratio: float = 0.6
    _partial: str = ""  # the last word, which the next piece may continue
    _recent: str = ""  # the last characters, so a canary split across pieces is found
    _tokens: list[str] = field(default_factory=list)
    _copied: set[int] = field(default_factory=set)
    _window: deque[str] = field(default_factory=deque)
    _in_window: Counter[str] = field(default_factory=Counter)
    _findings: dict[LeakKind, LeakFinding] = field(default_factory=dict)
    _matched: int = 0

    @property
    def verdict(self) -> LeakVerdict:
        return LeakVerdict(tuple(self._findings.values()))

    def _needed_overlap(self) -> int:
        return max(1, min(self.min_overlap_words, math.ceil(self.fingerprint.words / 2)))

    def feed_canaries(self, piece: str) -> None:
        fp = self.fingerprint
        if fp.canaries and "canary" not in self._findings:
            recent = self._recent + piece
            folded = recent.lower()
            for canary in fp.canaries:
                if canary.lower() in folded:
                    self._findings["canary"] = LeakFinding("canary", 1.0, canary)
                    break
            keep = max(len(c) for c in fp.canaries)
            self._recent = recent[-keep:]

    def feed(self, piece: str) -> LeakVerdict:
        fp = self.fingerprint
        self.feed_canaries(piece)
        if fp.words < _MIN_PROMPT_WORDS:
            return self.verdict
        text = self._partial + piece
        cut = _trailing_word_start(text)
        self._partial = text[cut:]
        for word in _tokens(text[:cut]):
            self._add_word(word)
        return self.verdict

    def finish(self) -> LeakVerdict:
        """Read the last word, which ``feed`` holds back in case it continues."""
        partial, self._partial = self._partial, ""
        for word in _tokens(partial):
            self._add_word(word)
        return self.verdict

    def _add_word(self, word: str) -> None:
        fp = self.fingerprint
        tokens = self._tokens
        tokens.append(word)
        index = len(tokens) - 1
        if (
            index >= _SHINGLE - 1
            and "verbatim" not in self._findings
            and tuple(tokens[index - _SHINGLE + 1 : index + 1]) in fp.shingles
        ):
            self._copied.update(range(index - _SHINGLE + 1, index + 1))
            if len(self._copied) >= self._needed_overlap():
                excerpt = " ".join(tokens[max(0, index - 11) : index + 1])
                self._findings["verbatim"] = LeakFinding(
                    "verbatim", float(len(self._copied)), excerpt
                )
        if (
            word in _STOP
            or len(word) <= 2
            or "paraphrase" in self._findings
            or len(fp.content) < _MIN_PARAPHRASE_WORDS
        ):
            return
        # A window of the answer's content words about twice the prompt's; ``_matched``
        # counts the distinct prompt words in it, kept as words enter and leave.
        stem = _stem(word)
        self._window.append(stem)
        if stem in fp.content:
            self._in_window[stem] += 1
            if self._in_window[stem] == 1:
                self._matched += 1
        if len(self._window) > max(20, 2 * len(fp.content)):
            old = self._window.popleft()
            if old in fp.content:
                self._in_window[old] -= 1
                if not self._in_window[old]:
                    del self._in_window[old]
                    self._matched -= 1
        if stem not in fp.content:
            return
        share = self._matched / len(fp.content)
        if share >= self.paraphrase_ratio and self._matched >= _MIN_PARAPHRASE_WORDS:
            excerpt = " ".join(list(self._window)[-12:])
            self._findings["paraphrase"] = LeakFinding("paraphrase", round(share, 3), excerpt)


def check_leak(
    answer: str,
    fingerprint: PromptFingerprint,
    *,
    min_overlap_words: int = 12,
    paraphrase_ratio: float = 0.6,
) -> LeakVerdict:
    """Whether ``answer`` (whole) leaks the prompt behind ``fingerprint``."""
    scanner = LeakScanner(fingerprint, min_overlap_words, paraphrase_ratio)
    if fingerprint.canaries:
        scanner.feed_canaries(answer)
    if fingerprint.words < _MIN_PROMPT_WORDS:
        return scanner.verdict
    tokens = _tokens(answer)
    content = fingerprint.content
    # No window can hold more of the prompt's words than the whole answer does: an
    # answer that shares too few of them cannot paraphrase it, and the window is skipped.
    shared = {_stem(w) for w in tokens if w not in _STOP and len(w) > 2} & content
    paraphrase = len(shared) >= max(_MIN_PARAPHRASE_WORDS, paraphrase_ratio * len(content))
    shingles = fingerprint.shingles
    if not paraphrase and not any(
        tuple(tokens[i : i + _SHINGLE]) in shingles for i in range(len(tokens) - _SHINGLE + 1)
    ):
        return scanner.verdict
    for word in tokens:
        scanner._add_word(word)
    return scanner.verdict


def redact_leak(
    answer: str,
    fingerprint: PromptFingerprint,
    *,
    replacement: str = "[redacted]",
    paraphrase_ratio: float = 0.6,
) -> str:
    """``answer`` with canaries, copied runs and paraphrasing sentences replaced.

    Copied runs are the 5-word windows shared with the prompt; a sentence is
    replaced whole when at least half of its content words (and three or more)
    come from the prompt, which is how a paraphrase shows sentence by sentence.
    """
    text = answer
    for canary in fingerprint.canaries:
        text = re.sub(re.escape(canary), replacement, text, flags=re.IGNORECASE)
    words = _words(text)
    spans: list[tuple[int, int]] = []
    tokens = [w for w, _, _ in words]
    for i in range(len(tokens) - _SHINGLE + 1):
        if tuple(tokens[i : i + _SHINGLE]) in fingerprint.shingles:
            spans.append((words[i][1], words[i + _SHINGLE - 1][2]))
    sentence_share = min(0.5, paraphrase_ratio)
    for sentence in re.finditer(r"[^.!?\n]+[.!?]?", text):
        content = [
            _stem(w) for w, _, _ in _words(sentence.group(0)) if w not in _STOP and len(w) > 2
        ]
        hits = sum(1 for stem in content if stem in fingerprint.content)
        if content and hits >= 3 and hits / len(content) >= sentence_share:
            spans.append(sentence.span())
    if not spans:
        return text
    spans.sort()
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out = []
    last = 0
    for start, end in merged:
        out.append(text[last:start])
        out.append(replacement)
        last = end
    out.append(text[last:])
    return "".join(out)
