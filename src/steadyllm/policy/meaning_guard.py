"""Refuse a semantic match whose meaning differs in a way similarity scores miss.

"Book a cleaning on Friday" and "Cancel a cleaning on Friday" share most words and
sit close in embedding space; so do "3 bedrooms" and "4 bedrooms", "Tuesday" and
"Thursday", "deep" and "standard" cleaning. Before a semantic hit is served, both
queries are reduced to a :class:`Meaning` and compared:

- negation: one says ``not``/``no``/``never``/``don't``/``without``..., the other not;
- actions: the verbs that name what to do, in classes (book/schedule/reserve,
  cancel, reschedule/move/change, add, remove/delete, show/check, pay, refund,
  confirm, pause, resume, start, stop, yes) and opposite pairs (cheapest/most
  expensive, earliest/latest, before/after, more/less, free/busy); any difference
  refuses;
- numbers (digits, number words, ordinals, amounts), dates (weekdays, months,
  today/tomorrow, ``next``/``last`` week, 5/12), times (3pm, 15:00, morning):
  any difference refuses;
- names: a capitalized word that is not a common word must appear in the other query;
- services and what they apply to (deep, standard, move-out, carpet, windows, oven,
  office, bedroom, weekly, ...): any difference refuses;
- what is asked (price, duration, availability, notes, who, when, where, ...):
  refused only when each query asks something the other does not, because a
  paraphrase often leaves one aspect implicit ("when will the cleaner arrive" and
  "what time will the cleaner arrive").

The lexicons are English and tuned on the domains the gateway's users describe
(cleaning bookings, prices, availability, notes); ``docs/CACHE.md`` measures them
on a labelled set of paraphrases and near misses. The guard is conservative: a
difference it cannot interpret is not a refusal, so it narrows what similarity
allows and never widens it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from steadyllm.policy.meaning_lexicon import (
    ACTIONS,
    ASPECTS,
    COMMON_WORDS,
    DATE_MODIFIERS,
    DAY_PARTS,
    MONTHS,
    MULTIPLIERS,
    NEGATIONS,
    NUMBER_WORDS,
    ORDINAL_WORDS,
    PHRASES,
    RELATIVE_DAYS,
    SERVICES,
    TENS,
    WEEKDAYS,
)

__all__ = ["Meaning", "conflict", "meaning_differs", "meaning_of"]

_APOSTROPHES = re.compile(r"['\u2019`]")
_CLOCK = re.compile(
    r"\b(\d{1,2})(?::(\d{2}))?\s*(a\.?m\.?|p\.?m\.?)(?![a-z])|\b(\d{1,2}):(\d{2})\b",
    re.IGNORECASE,
)
_NUMERIC_DATE = re.compile(r"\b(\d{1,4})[/-](\d{1,2})(?:[/-](\d{1,4}))?\b")
_MONEY = re.compile(r"[$€£]\s?(\d+(?:[.,]\d+)?)")
_TOKEN = re.compile(r"[A-Za-z]+|\d+(?:\.\d+)?(?:st|nd|rd|th)?|[.!?;]")
_ORDINAL_SUFFIX = re.compile(r"^(\d+)(?:st|nd|rd|th)$")

_PHRASE_LENGTHS = sorted({len(p) for p in PHRASES}, reverse=True)


@dataclass(frozen=True, slots=True)
class Meaning:
    """What the guard compares; build it once per query with :func:`meaning_of`."""

    negated: bool
    actions: frozenset[str]
    numbers: frozenset[str]
    dates: frozenset[str]
    times: frozenset[str]
    names: frozenset[str]
    services: frozenset[str]
    aspects: frozenset[str]
    words: frozenset[str]  # every lower-case word, to look the other query's names up in


def _in_lexicon(word: str) -> bool:
    """Whether ``word`` (or its singular) is a word the guard reads: never a name."""
    for form in (word, word[:-1] if word.endswith("s") else word):
        if (
            form in WEEKDAYS
            or form in MONTHS
            or form in SERVICES
            or form in ACTIONS
            or form in ASPECTS
            or form in RELATIVE_DAYS
            or form in DAY_PARTS
            or form in NUMBER_WORDS
            or form in ORDINAL_WORDS
            or form in NEGATIONS
            or form in DATE_MODIFIERS
            or form in ("i", "im", "ive", "id", "ill", "youre", "were", "theyre", "lets")
        ):
            return True
    return False


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _clock(match: re.Match[str]) -> str:
    if match.group(4) is not None:
        hour, minute, suffix = int(match.group(4)), int(match.group(5)), ""
    else:
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        suffix = match.group(3).lower().replace(".", "")
    if suffix == "pm" and hour < 12:
        hour += 12
    elif suffix == "am" and hour == 12:
        hour = 0
    return f"{hour:02d}:{minute:02d}"


def meaning_of(text: str) -> Meaning:
    """Reduce one query to the features the guard compares."""
    times: set[str] = set()
    dates: set[str] = set()
    numbers: set[str] = set()

    def take_clock(match: re.Match[str]) -> str:
        times.add(_clock(match))
        return " "

    def take_date(match: re.Match[str]) -> str:
        dates.add("/".join(str(int(g)) for g in match.groups() if g is not None))
        return " "

    def take_money(match: re.Match[str]) -> str:
        numbers.add(_number_text(float(match.group(1).replace(",", "."))))
        return " "

    rest = _APOSTROPHES.sub("", text)
    rest = _CLOCK.sub(take_clock, rest)
    rest = _NUMERIC_DATE.sub(take_date, rest)
    rest = _MONEY.sub(take_money, rest)
    raw = _TOKEN.findall(rest)

    names: set[str] = set()
    sentence_start = True
    words: list[str] = []
    for token in raw:
        if token in ".!?;":
            sentence_start = True
            continue
        lower = token.lower()
        words.append(lower)
        if (
            token[0].isupper()
            and len(token) > 1
            and not _in_lexicon(lower)
            and (not sentence_start or lower not in COMMON_WORDS)
        ):
            names.add(lower)
        sentence_start = False

    negated = False
    actions: set[str] = set()
    services: set[str] = set()
    aspects: set[str] = set()
    index = 0
    count = len(words)
    while index < count:
        matched = False
        for length in _PHRASE_LENGTHS:
            phrase = tuple(words[index : index + length])
            found = PHRASES.get(phrase) if len(phrase) == length else None
            if found is not None:
                kind, value = found
                {"service": services, "action": actions, "aspect": aspects}[kind].add(value)
                index += length
                matched = True
                break
        if matched:
            continue
        word = words[index]
        following = words[index + 1] if index + 1 < count else ""
        previous = words[index - 1] if index else ""
        index += 1
        if word in NEGATIONS:
            negated = True
        elif word in DATE_MODIFIERS and (
            following in WEEKDAYS or following in RELATIVE_DAYS or following in MONTHS
        ):
            target = WEEKDAYS.get(following) or RELATIVE_DAYS.get(following) or following
            dates.add(f"{DATE_MODIFIERS[word]}:{target}")
            index += 1
        elif word in WEEKDAYS or (word.endswith("s") and word[:-1] in WEEKDAYS):
            dates.add(WEEKDAYS.get(word) or WEEKDAYS[word[:-1]])
        elif word in MONTHS and (
            word != "may" or previous[:1].isdigit() or following[:1].isdigit()
        ):
            dates.add(f"month:{MONTHS[word]}")
        elif word in DAY_PARTS:
            times.add(DAY_PARTS[word])
            if word == "tonight":
                dates.add("today")
        elif word in RELATIVE_DAYS:
            dates.add(RELATIVE_DAYS[word])
        elif word in ("oclock", "oclocks") and previous.isdigit():
            numbers.discard(previous)
            times.add(f"{int(previous):02d}:00")
        elif word[:1].isdigit():
            ordinal = _ORDINAL_SUFFIX.match(word)
            numbers.add(_number_text(float(ordinal.group(1) if ordinal else word)))
        elif word in TENS:
            tens = TENS[word]
            if following in NUMBER_WORDS and 0 < NUMBER_WORDS[following] < 10:
                tens += NUMBER_WORDS[following]
                index += 1
            numbers.add(str(tens))
        elif word in NUMBER_WORDS:
            numbers.add(str(NUMBER_WORDS[word]))
        elif word in ORDINAL_WORDS:
            numbers.add(str(ORDINAL_WORDS[word]))
        elif word in MULTIPLIERS:
            numbers.add(_number_text(MULTIPLIERS[word]))
        elif word in ACTIONS:
            actions.add(ACTIONS[word])
        elif word in SERVICES:
            services.add(SERVICES[word])
        elif word in ASPECTS:
            aspects.add(ASPECTS[word])
    return Meaning(
        negated=negated,
        actions=_frozen(actions),
        numbers=_frozen(numbers),
        dates=_frozen(dates),
        times=_frozen(times),
        names=_frozen(names),
        services=_frozen(services),
        aspects=_frozen(aspects),
        words=_frozen(words),
    )


_EMPTY: frozenset[str] = frozenset()


def _frozen(items: set[str] | list[str]) -> frozenset[str]:
    """A frozenset of ``items``; the one shared empty set when there are none (most of
    a query's fields are empty, and the semantic index keeps a Meaning per entry)."""
    return frozenset(items) if items else _EMPTY


def conflict(a: Meaning, b: Meaning) -> str | None:
    """Why ``a`` and ``b`` must not share an answer, or ``None`` when nothing tells."""
    if a.negated != b.negated:
        return "negation"
    if a.actions != b.actions:
        return "action"
    if a.numbers != b.numbers:
        return "number"
    if a.dates != b.dates:
        return "date"
    if a.times != b.times:
        return "time"
    if not a.names <= b.words or not b.names <= a.words:
        return "name"
    if a.services != b.services:
        return "service"
    if a.aspects - b.aspects and b.aspects - a.aspects:
        return "aspect"
    return None


def meaning_differs(a: str, b: str) -> str | None:
    """:func:`conflict` of two texts (the cache keeps the :class:`Meaning` of entries)."""
    return conflict(meaning_of(a), meaning_of(b))
