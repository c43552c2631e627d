"""The word lists the meaning guard reads (English; see ``meaning_guard``).

Plain data: each class maps to the words that name it. Kept apart from the logic so
the lists can grow without burying it.
"""

from __future__ import annotations

__all__ = [
    "ACTIONS",
    "ASPECTS",
    "COMMON_WORDS",
    "DATE_MODIFIERS",
    "DAY_PARTS",
    "MONTHS",
    "MULTIPLIERS",
    "NEGATIONS",
    "NUMBER_WORDS",
    "ORDINAL_WORDS",
    "PHRASES",
    "RELATIVE_DAYS",
    "SERVICES",
    "TENS",
    "WEEKDAYS",
]


def _words(text: str) -> list[str]:
    return text.split()


def _classes(table: dict[str, str]) -> dict[str, str]:
    """``{class: "word word"}`` turned into ``{word: class}``."""
    return {word: name for name, words in table.items() for word in _words(words)}


NEGATIONS = frozenset(
    _words(
        "doesnt not didnt never nope without couldnt hadnt dont nor isnt wouldnt hasnt nobody "
        "cant nothing shouldnt wont arent wasnt no none havent werent neither cannot"
    )
)

ACTIONS = _classes(
    {
        "book": (
            "book books booked schedule schedules scheduled reserve reserves reserved arrange "
            "arranged order ordered"
        ),
        "cancel": (
            "cancel cancels cancelled canceled cancelling canceling cancellation cancellations "
            "scrap"
        ),
        "change": (
            "reschedule rescheduled rescheduling move moved moving change changed changing modify "
            "modified update updated edit edited postpone postponed delay delayed switch switched "
            "shift push"
        ),
        "add": "add adds added adding include included insert leave left save write",
        "remove": (
            "remove removes removed removing delete deleted deleting drop exclude excluded erase "
            "clear skip"
        ),
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
    }
)

ASPECTS = _classes(
    {
        "price": (
            "price prices pricing priced cost costs costing fee fees charge charges rate rates "
            "quote quotes dollars budget total"
        ),
        "duration": "duration long",
        "availability": (
            "available availability free open openings opening slot slots spot spots vacancy "
            "vacancies"
        ),
        "notes": ("note notes comment comments instruction instructions memo remark remarks"),
        "person": "who whom cleaner cleaners staff team",
        "place": "where address location",
        "reason": "why",
    }
)

SERVICES = _classes(
    {
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
    }
)

# Phrases read before single words (their words are then used up).
PHRASES: dict[tuple[str, ...], tuple[str, str]] = {
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

NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        _words(
            "zero one two three four five six seven eight nine ten eleven twelve thirteen "
            "fourteen fifteen sixteen seventeen eighteen nineteen twenty"
        )
    )
}
TENS = {
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "twenty": 20,
}
ORDINAL_WORDS = {
    word: value + 1
    for value, word in enumerate(
        _words("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth")
    )
}
MULTIPLIERS = {"twice": 2, "thrice": 3, "half": 0.5, "hundred": 100, "dozen": 12}
WEEKDAYS = {
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
MONTHS = {
    month: number + 1
    for number, month in enumerate(
        _words(
            "january february march april may june july august september october november december"
        )
    )
}
MONTHS.update(
    {
        "jan": 1,
        "feb": 2,
        "apr": 4,
        "jun": 6,
        "jul": 7,
        "aug": 8,
        "sep": 9,
        "sept": 9,
        "oct": 10,
        "nov": 11,
        "dec": 12,
    }
)
RELATIVE_DAYS = {
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
DATE_MODIFIERS = {"next": "next", "following": "next", "last": "last", "previous": "last"}
DAY_PARTS = {
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
COMMON_WORDS = frozenset(
    _words(
        "is had can ill on from regular could mine was afternoon other their its them where when "
        "by our might send cleaners me availability please a bookings tell help less many coming "
        "hows and about thank no standard check your remove still hey much do does are biweekly "
        "eight delete price not last it ive us yours been hello of five cancel services nine were "
        "available during today service cost ok we am be an before or with every note then which "
        "each also charge go get appointment you morning monthly got have thanks that tonight "
        "book im how must change okay into reschedule email find the schedule evening more under "
        "shall should seven here six some booking whats move she whom at prices quote notes over "
        "want if did all to as dear any slot call add pay has may who visit let reservation so "
        "text id first why tomorrow in just two these slots there same yes next set another they "
        "extra until show following this for four confirm sign he third after one what clean "
        "cleaner between ten my cleaning hi three would second weekly hourly but make visits i "
        "need will give those appointments deep"
    )
)
