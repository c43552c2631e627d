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

_NEGATIONS = frozenset(
    "not no nope never none nothing nobody without cannot cant dont doesnt didnt isnt arent "
    "wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt neither nor".split()
)

_ACTIONS: dict[str, str] = {}
for _class, _words in {
    "book": "book books booked schedule schedules scheduled reserve reserves "
    "reserved arrange arranged order ordered",
    "cancel": "cancel cancels cancelled canceled cancelling canceling cancellation "
    "cancellations scrap",
    "change": "reschedule rescheduled rescheduling move moved moving change changed changing "
    "modify modified update updated edit edited postpone postponed delay delayed switch "
    "switched shift push",
    "add": "add adds added adding include included insert leave left save write",
    "remove": "remove removes removed removing delete deleted deleting drop exclude excluded "
    "erase clear skip",
    "show": "show view list display",
    "pay": "pay paying paid",
    "refund": "refund refunds refunded",
    "confirm": "confirm confirmed confirmation",
    "pause": "pause paused suspend suspended",
    "resume": "resume resumed restart unpause continue",
    "start": "start starts begin begins",
    "stop": "stop stops quit terminate end",
    "yes": "yes yeah yep sure",
    "low": "cheapest cheaper cheap lowest lower minimum min least",
    "high": "expensive priciest pricier highest higher maximum max most",
    "early": "earliest earlier soonest sooner",
    "late": "latest later",
    "before": "before",
    "after": "after",
    "more": "more increase increased raise upgrade extra",
    "less": "less fewer decrease decreased reduce reduced downgrade",
    "busy": "busy full unavailable taken occupied",
}.items():
    for _word in _words.split():
        _ACTIONS[_word] = _class

_ASPECTS: dict[str, str] = {}
for _class, _words in {
    "price": "price prices pricing priced cost costs costing fee fees charge charges rate "
    "rates quote quotes dollars budget total",
    "duration": "duration long",
    "availability": "available availability free open openings opening slot slots spot "
    "spots vacancy vacancies",
    "notes": "note notes comment comments instruction instructions memo remark remarks",
    "person": "who whom cleaner cleaners staff team",
    "place": "where address location",
    "reason": "why",
}.items():
    for _word in _words.split():
        _ASPECTS[_word] = _class

_SERVICES: dict[str, str] = {}
for _class, _words in {
    "deep": "deep thorough",
    "standard": "standard regular basic routine",
    "carpet": "carpet carpets rug rugs",
    "window": "window windows",
    "oven": "oven ovens stove",
    "fridge": "fridge fridges refrigerator",
    "laundry": "laundry ironing",
    "upholstery": "upholstery sofa couch mattress",
    "office": "office offices commercial",
    "construction": "construction renovation",
    "rental": "airbnb rental",
    "apartment": "apartment apartments flat condo studio",
    "house": "house townhouse villa",
    "bedroom": "bedroom bedrooms bed beds",
    "bathroom": "bathroom bathrooms bath baths toilet toilets",
    "kitchen": "kitchen kitchens",
    "garage": "garage",
    "basement": "basement",
    "balcony": "balcony patio terrace",
    "pet": "pet pets dog dogs cat cats",
    "plumbing": "plumbing plumber",
    "garden": "garden gardening lawn yard",
    "weekly": "weekly",
    "biweekly": "biweekly fortnightly",
    "monthly": "monthly",
    "daily": "daily",
}.items():
    for _word in _words.split():
        _SERVICES[_word] = _class

# Phrases read before single words (their words are then used up).
_PHRASES: dict[tuple[str, ...], tuple[str, str]] = {
    ("move", "out"): ("service", "move_out"),
    ("moving", "out"): ("service", "move_out"),
    ("moveout",): ("service", "move_out"),
    ("move", "in"): ("service", "move_in"),
    ("moving", "in"): ("service", "move_in"),
    ("end", "of", "tenancy"): ("service", "move_out"),
    ("post", "construction"): ("service", "construction"),
    ("living", "room"): ("service", "living_room"),
    ("pest", "control"): ("service", "pest"),
    ("one", "time"): ("service", "one_time"),
    ("one", "off"): ("service", "one_time"),
    ("every", "week"): ("service", "weekly"),
    ("every", "other", "week"): ("service", "biweekly"),
    ("every", "two", "weeks"): ("service", "biweekly"),
    ("every", "month"): ("service", "monthly"),
    ("call", "off"): ("action", "cancel"),
    ("how", "much"): ("aspect", "price"),
    ("how", "long"): ("aspect", "duration"),
    ("how", "many", "hours"): ("aspect", "duration"),
    ("how", "many"): ("aspect", "count"),
    ("when",): ("aspect", "when"),
    ("least", "expensive"): ("action", "low"),
    ("most", "expensive"): ("action", "high"),
    ("at", "least"): ("action", "low"),
    ("at", "most"): ("action", "high"),
    ("set", "up"): ("action", "book"),
    ("sign", "up"): ("action", "book"),
    ("go", "ahead"): ("action", "yes"),
}
_PHRASE_LENGTHS = sorted({len(p) for p in _PHRASES}, reverse=True)

_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_TENS = {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80}
_TENS["ninety"] = 90
_TENS["twenty"] = 20
_ORDINAL_WORDS = {
    w: i + 1
    for i, w in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split()
    )
}
_MULTIPLIERS = {"twice": 2, "thrice": 3, "half": 0.5, "hundred": 100, "dozen": 12}

_WEEKDAYS = {
    "monday": "mon",
    "tuesday": "tue",
    "tues": "tue",
    "tue": "tue",
    "wednesday": "wed",
    "weds": "wed",
    "thursday": "thu",
    "thurs": "thu",
    "thur": "thu",
    "thu": "thu",
    "friday": "fri",
    "fri": "fri",
    "saturday": "sat",
    "sunday": "sun",
}
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        "january february march april may june july august september october november "
        "december".split()
    )
}
_MONTHS.update(
    {"jan": 1, "feb": 2, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10}
)
_MONTHS.update({"nov": 11, "dec": 12})
_RELATIVE_DAYS = {
    "today": "today",
    "tonight": "today",
    "tomorrow": "tomorrow",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "yesterday": "yesterday",
    "weekend": "weekend",
    "weekends": "weekend",
    "weekday": "weekday",
    "weekdays": "weekday",
    "week": "week",
    "weeks": "week",
    "month": "month",
    "months": "month",
    "year": "year",
    "years": "year",
}
_DATE_MODIFIERS = {"next": "next", "following": "next", "last": "last", "previous": "last"}
_DAY_PARTS = {
    "morning": "morning",
    "mornings": "morning",
    "afternoon": "afternoon",
    "afternoons": "afternoon",
    "evening": "evening",
    "evenings": "evening",
    "night": "night",
    "nights": "night",
    "tonight": "night",
    "noon": "12:00",
    "midday": "12:00",
    "lunchtime": "12:00",
    "midnight": "00:00",
}

# Words that start sentences or are capitalized for emphasis, never names.
_COMMON_WORDS = frozenset(
    """
    i im ive id ill me my mine we our us you your yours he she it its they them their
    what whats when where which who whom why how hows is are was were be been am do does
    did can could would should will shall may might must have has had get got need want
    please hi hello hey dear thanks thank ok okay yes no not any some all every each this
    that these those there here the a an and or but if then so also just still about for
    to of in on at by with from as into over under after before between during until
    tell give let make find help show book set sign go schedule cancel reschedule move change add
    remove delete check confirm send email call text pay charge clean cleaning cleaner
    cleaners service services price prices cost quote available availability slot slots
    appointment appointments booking bookings reservation visit visits note notes
    tomorrow today tonight morning afternoon evening next last this coming following
    deep standard regular weekly monthly biweekly one two three four five six seven eight
    nine ten first second third hourly extra same other another more less much many
    """.split()
)


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
            form in _WEEKDAYS
            or form in _MONTHS
            or form in _SERVICES
            or form in _ACTIONS
            or form in _ASPECTS
            or form in _RELATIVE_DAYS
            or form in _DAY_PARTS
            or form in _NUMBER_WORDS
            or form in _ORDINAL_WORDS
            or form in _NEGATIONS
            or form in _DATE_MODIFIERS
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
            and (not sentence_start or lower not in _COMMON_WORDS)
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
            found = _PHRASES.get(phrase) if len(phrase) == length else None
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
        if word in _NEGATIONS:
            negated = True
        elif word in _DATE_MODIFIERS and (
            following in _WEEKDAYS or following in _RELATIVE_DAYS or following in _MONTHS
        ):
            target = _WEEKDAYS.get(following) or _RELATIVE_DAYS.get(following) or following
            dates.add(f"{_DATE_MODIFIERS[word]}:{target}")
            index += 1
        elif word in _WEEKDAYS or (word.endswith("s") and word[:-1] in _WEEKDAYS):
            dates.add(_WEEKDAYS.get(word) or _WEEKDAYS[word[:-1]])
        elif word in _MONTHS and (
            word != "may" or previous[:1].isdigit() or following[:1].isdigit()
        ):
            dates.add(f"month:{_MONTHS[word]}")
        elif word in _DAY_PARTS:
            times.add(_DAY_PARTS[word])
            if word == "tonight":
                dates.add("today")
        elif word in _RELATIVE_DAYS:
            dates.add(_RELATIVE_DAYS[word])
        elif word in ("oclock", "oclocks") and previous.isdigit():
            numbers.discard(previous)
            times.add(f"{int(previous):02d}:00")
        elif word[:1].isdigit():
            ordinal = _ORDINAL_SUFFIX.match(word)
            numbers.add(_number_text(float(ordinal.group(1) if ordinal else word)))
        elif word in _TENS:
            value = _TENS[word]
            if following in _NUMBER_WORDS and 0 < _NUMBER_WORDS[following] < 10:
                value += _NUMBER_WORDS[following]
                index += 1
            numbers.add(str(value))
        elif word in _NUMBER_WORDS:
            numbers.add(str(_NUMBER_WORDS[word]))
        elif word in _ORDINAL_WORDS:
            numbers.add(str(_ORDINAL_WORDS[word]))
        elif word in _MULTIPLIERS:
            numbers.add(_number_text(_MULTIPLIERS[word]))
        elif word in _ACTIONS:
            actions.add(_ACTIONS[word])
        elif word in _SERVICES:
            services.add(_SERVICES[word])
        elif word in _ASPECTS:
            aspects.add(_ASPECTS[word])
    return Meaning(
        negated=negated,
        actions=frozenset(actions),
        numbers=frozenset(numbers),
        dates=frozenset(dates),
        times=frozenset(times),
        names=frozenset(names),
        services=frozenset(services),
        aspects=frozenset(aspects),
        words=frozenset(words),
    )


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
