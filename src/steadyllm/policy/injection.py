"""Prompt-injection and jailbreak rules: layered, scored, pure.

A message is read in layers, and every layer is matched against the same rules:

1. **normalized text**: Unicode compatibility forms folded (fullwidth and
   mathematical letters), accents dropped, look-alike Cyrillic and Greek letters
   mapped to Latin, invisible characters (zero-width, bidi controls, Unicode tag
   characters) removed, lower case;
2. **decoded variants**: leetspeak (``1gn0r3``), spaced-out letters (``i g n o r e``),
   ROT13, reversed text, base64 and hex runs, and ASCII hidden in Unicode tag
   characters.

Each rule is a regular expression with a category and a weight in (0, 1]. A rule
counts once however often and in however many layers it matches; the score is
the noisy OR of the weights that matched, ``1 - prod(1 - w)``, plus signals of
obfuscation itself (letters split by zero-width characters, mixed-script words,
an instruction found only in an encoded layer). One strong rule (an explicit
"ignore all previous instructions") crosses the default threshold of 0.5 alone;
weaker ones ("what are your rules", "from now on you") need company, which is
what keeps booking traffic like "ignore the time I gave before" or "forget the
deep clean" passing.

Everything here is pure and precompiled at import; :func:`scan` costs a few
regular-expression passes per message (see ``benchmarks/safety_rules.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from steadyllm.policy.injection_rules import (
    _CONCEPT_WORDS,
    _CUSTOMER_RULE_CONTEXT,
    _FOLLOW_WORDS,
    _FREEDOM_WORDS,
    _GIVEN_TO_USER,
    _OVERRIDE_WORDS,
    _OWNED_AFTER,
    _OWNERS,
    _PERSONA_WORDS,
    _REVEAL_WORDS,
    _RULE_WORDS,
    _RULES,
    _SECRET_WORDS,
    _SELF_OR_AI,
    _SELF_WORDS,
    _SENTENCE,
    _SQUASHED,
    _STOP_FOLLOWING,
    _TOLD_YOU,
)
from steadyllm.policy.injection_text import (
    _BIDI,
    _INVISIBLE,
    _LEET,
    _LEET_HINT,
    _MIXED_SCRIPT,
    _NOT_LETTERS,
    _ROT13,
    _SPACED_RUN,
    _SPACED_SEPARATOR,
    _TAG_FIRST,
    _TAG_LAST,
    _TAGS,
    _ZERO_WIDTH_SPLIT,
    _base64_texts,
    _despace,
    _hex_texts,
    _normalize_indexed,
    normalize,
)
from steadyllm.policy.injection_types import (
    DEFAULT_THRESHOLD,
    Category,
    Finding,
    Rule,
    Source,
    Verdict,
    ViolationType,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "Category",
    "Finding",
    "Rule",
    "Source",
    "Verdict",
    "ViolationType",
    "normalize",
    "rules",
    "sanitize",
    "scan",
]

_SIGNAL_ZERO_WIDTH = 0.3
_SIGNAL_MIXED_SCRIPT = 0.3
_SIGNAL_BIDI = 0.25
_SIGNAL_TAGS = 0.5
_SIGNAL_ENCODED = 0.3
_USER_INDIRECT_FACTOR = 0.75  # added when a rule matched only inside an encoded layer
_EXCERPT = 120


def rules() -> tuple[Rule, ...]:
    """The rule set, strongest evidence first within each category."""
    return _RULES


_WORD = re.compile(r"[a-z0-9]+")
_RULES_BY_WORD: dict[str, list[int]] = {}
for _index, _anchored in enumerate(_RULES):
    for _word in _anchored.words:
        _RULES_BY_WORD.setdefault(_word, []).append(_index)
_ANCHOR_WORDS = frozenset(_RULES_BY_WORD)
_RULES_BY_SUBSTRING = tuple(
    (part, index) for index, rule in enumerate(_RULES) for part in rule.substrings
)
_EVERY_RULE = tuple(range(len(_RULES)))

# --- sentence-level co-occurrence -------------------------------------------------------
# Phrase rules miss reworded attacks; this layer reads each sentence's words regardless
# of their order. The vocabulary lives in :mod:`steadyllm.policy.injection_rules`.

_CO_OVERRIDE = 0.6
_CO_REVEAL = 0.55
_CO_PERSONA = 0.55


def _agent_rule_words(tokens: list[str], sentence: str, vocabulary: frozenset[str]) -> set[str]:
    """The words of ``vocabulary`` in ``tokens`` that are not the customer's own."""
    kept: set[str] = set()
    for index, token in enumerate(tokens):
        if token not in vocabulary:
            continue
        before = tokens[max(0, index - 2) : index]
        after = tokens[index + 1 : index + 3]
        if _OWNERS.intersection(before) or (after and after[0] in _OWNED_AFTER):
            continue
        if _CUSTOMER_RULE_CONTEXT.intersection(before):
            continue
        kept.add(token)
    if kept and _GIVEN_TO_USER.search(sentence):
        return set()
    return kept


def _cooccurrence(layer: str, text: str, words: set[str], found: dict[str, Finding]) -> None:
    if _CONCEPT_WORDS.isdisjoint(words):
        return
    for match in _SENTENCE.finditer(text):
        sentence = match.group(0)
        tokens = _WORD.findall(sentence)
        present = set(tokens)
        excerpt = sentence.strip()[:_EXCERPT]
        overriding = not _OVERRIDE_WORDS.isdisjoint(present) or (
            not _FOLLOW_WORDS.isdisjoint(present) and _STOP_FOLLOWING.search(sentence) is not None
        )
        told = _TOLD_YOU.search(sentence) is not None
        if (
            "cooccur_override" not in found
            and overriding
            and (told or _agent_rule_words(tokens, sentence, _RULE_WORDS))
        ):
            found["cooccur_override"] = Finding(
                "cooccur_override", "override", _CO_OVERRIDE, layer, excerpt
            )
        if (
            "cooccur_reveal" not in found
            and not _REVEAL_WORDS.isdisjoint(present)
            and not _SELF_WORDS.isdisjoint(present)
            and (told or _agent_rule_words(tokens, sentence, _SECRET_WORDS))
        ):
            found["cooccur_reveal"] = Finding(
                "cooccur_reveal", "extraction", _CO_REVEAL, layer, excerpt
            )
        if (
            "cooccur_persona" not in found
            and not _PERSONA_WORDS.isdisjoint(present)
            and (tokens[0] in _PERSONA_WORDS or not _SELF_OR_AI.isdisjoint(present))
            and not _FREEDOM_WORDS.isdisjoint(present)
        ):
            found["cooccur_persona"] = Finding(
                "cooccur_persona", "persona", _CO_PERSONA, layer, excerpt
            )


# A ROT13 or reversed reading is only worth matching when it holds an anchor word.
_ROT13_ANCHORS = frozenset(word.translate(_ROT13) for word in _ANCHOR_WORDS) - _ANCHOR_WORDS
_REVERSED_ANCHORS = frozenset(word[::-1] for word in _ANCHOR_WORDS) - _ANCHOR_WORDS


def _candidates(text: str, words: frozenset[str] | set[str]) -> list[int]:
    """Indices of the rules whose anchors occur in ``text``, in rule order."""
    chosen: set[int] = set()
    for word in _ANCHOR_WORDS.intersection(words):
        chosen.update(_RULES_BY_WORD[word])
    for part, index in _RULES_BY_SUBSTRING:
        if part in text:
            chosen.add(index)
    return sorted(i for i in chosen if not _RULES[i].also or not _RULES[i].also.isdisjoint(words))


def _match_rules(
    layer: str, text: str, found: dict[str, Finding], *, source: Source, exhaustive: bool
) -> None:
    words = set(_WORD.findall(text))
    _cooccurrence(layer, text, words, found)
    for index in _EVERY_RULE if exhaustive else _candidates(text, words):
        rule = _RULES[index]
        if rule.name in found:
            continue
        match = rule.pattern.search(text)
        if match is not None:
            weight = rule.weight
            if source == "user" and rule.category == "indirect":
                weight *= _USER_INDIRECT_FACTOR
            found[rule.name] = Finding(
                rule.name, rule.category, weight, layer, match.group(0)[:_EXCERPT]
            )


def _layers(
    text: str, normalized: str, despaced: str, *, exhaustive: bool
) -> Iterable[tuple[str, str]]:
    """(layer name, lower-case text) for every layer worth reading, the plain text first."""
    yield "text", normalized
    leet = normalized.translate(_LEET)
    if leet != normalized and _LEET_HINT.search(normalized):
        yield "leetspeak", leet
    if despaced != normalized:
        yield "spaced", despaced
    words = set(_WORD.findall(normalized))
    if exhaustive or not _ROT13_ANCHORS.isdisjoint(words):
        yield "rot13", normalized.translate(_ROT13)
    if exhaustive or not _REVERSED_ANCHORS.isdisjoint(words):
        yield "reversed", normalized[::-1]
    for decoded, _ in _base64_texts(text):
        yield "base64", normalize(decoded)
    for decoded, _ in _hex_texts(text):
        yield "hex", normalize(decoded)
    if not text.isascii():
        for match in _TAGS.finditer(text):
            hidden = "".join(chr(ord(c) - _TAG_FIRST) for c in match.group(0))
            yield "unicode_tags", normalize(hidden)


def _signal(found: dict[str, Finding], name: str, weight: float, excerpt: str = "") -> None:
    found.setdefault(name, Finding(name, "obfuscation", weight, "text", excerpt[:_EXCERPT]))


def _signals(text: str, normalized: str, despaced: str, found: dict[str, Finding]) -> None:
    obfuscated = despaced != normalized
    if not text.isascii():
        if _ZERO_WIDTH_SPLIT.search(text):
            _signal(found, "zero_width_split", _SIGNAL_ZERO_WIDTH)
            obfuscated = True
        mixed = _MIXED_SCRIPT.search(text)
        if mixed:
            _signal(found, "mixed_script", _SIGNAL_MIXED_SCRIPT, mixed.group(0))
            obfuscated = True
        if _BIDI.search(text):
            _signal(found, "bidi_control", _SIGNAL_BIDI)
        if _TAGS.search(text):
            _signal(found, "unicode_tags", _SIGNAL_TAGS)
    if obfuscated:
        squashed = _NOT_LETTERS.sub("", normalized)
        for phrase, category in _SQUASHED:
            name = f"squashed:{phrase}"
            if phrase in squashed and name not in found:
                found[name] = Finding(name, category, 0.7, "squashed", phrase)  # type: ignore[arg-type]
    hidden = [f for f in found.values() if f.category != "obfuscation"]
    if hidden and all(f.layer != "text" for f in hidden):
        _signal(found, "encoded_instruction", _SIGNAL_ENCODED)


def scan(
    text: str, *, source: Source = "user", max_chars: int = 100_000, exhaustive: bool = False
) -> Verdict:
    """Score ``text``, a user message or a tool result; only its first ``max_chars`` are read.

    Rules of the ``indirect`` category (text addressed to "the AI" inside data,
    "don't tell the user", exfiltration) weigh less in a user's own message, where
    the user is talking to the assistant anyway. ``exhaustive`` runs every rule
    without the anchor prefilter (the tests use it to show the prefilter changes
    no verdict).
    """
    if len(text) > max_chars:
        text = text[:max_chars]
    normalized = normalize(text)
    despaced = _despace(normalized)
    found: dict[str, Finding] = {}
    for layer, layer_text in _layers(text, normalized, despaced, exhaustive=exhaustive):
        _match_rules(layer, layer_text, found, source=source, exhaustive=exhaustive)
    _signals(text, normalized, despaced, found)
    remaining = 1.0
    for finding in found.values():
        remaining *= 1.0 - finding.weight
    return Verdict(round(1.0 - remaining, 4), tuple(found.values()))


# --- sanitize ----------------------------------------------------------------------------


def sanitize(text: str, *, max_chars: int = 100_000) -> tuple[str, Verdict]:
    """``text`` with the spans that matched a rule removed, and the verdict before that.

    Spans found in the text itself (or its leetspeak, ROT13 or reversed reading, which
    keep positions) are cut out; an encoded run (base64, hex) that hid an instruction
    is cut whole; invisible characters are dropped everywhere.
    """
    verdict = scan(text, max_chars=max_chars)
    if not verdict.findings:
        return text, verdict
    normalized, index = _normalize_indexed(text)
    cut = [False] * len(text)

    def mark(start: int, end: int) -> None:
        for position in range(start, min(end, len(text))):
            cut[position] = True

    def mark_normalized(start: int, end: int) -> None:
        if start < end and start < len(index):
            mark(index[start], index[min(end, len(index)) - 1] + 1)

    layers = {
        "text": normalized,
        "leetspeak": normalized.translate(_LEET),
        "rot13": normalized.translate(_ROT13),
    }
    reversed_text = normalized[::-1]
    rule_names = {f.rule for f in verdict.findings}
    for rule in _RULES:
        if rule.name not in rule_names:
            continue
        for layer_text in layers.values():
            for match in rule.pattern.finditer(layer_text):
                mark_normalized(*match.span())
        for match in rule.pattern.finditer(reversed_text):
            length = len(normalized)
            mark_normalized(length - match.end(), length - match.start())
    for match in _SPACED_RUN.finditer(normalized):
        joined = _SPACED_SEPARATOR.sub("", match.group(0))
        if any(rule.pattern.search(joined) for rule in _RULES) or any(
            phrase in joined for phrase, _ in _SQUASHED
        ):
            mark_normalized(*match.span())
    for decoded, span in [*_base64_texts(text), *_hex_texts(text)]:
        if scan(decoded, max_chars=max_chars).findings:
            mark(*span)
    kept = "".join(
        char
        for position, char in enumerate(text)
        if not cut[position] and char not in _INVISIBLE and not _TAG_FIRST <= ord(char) <= _TAG_LAST
    )
    return re.sub(r"[ \t]{2,}", " ", kept).strip(), verdict
