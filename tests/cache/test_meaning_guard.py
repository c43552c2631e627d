"""The meaning guard: what similarity scores miss, as a table of cases."""

from __future__ import annotations

import pytest

from steadyllm.policy.meaning_guard import meaning_differs, meaning_of


@pytest.mark.parametrize(
    ("a", "b", "why"),
    [
        ("Can I book a cleaning on Friday?", "Can I cancel a cleaning on Friday?", "action"),
        ("Add an oven clean", "Remove an oven clean", "action"),
        ("Is Tuesday free?", "Is Tuesday busy?", "action"),
        ("What's the cheapest option?", "What's the most expensive option?", "action"),
        ("Can you come before noon?", "Can you come after noon?", "action"),
        ("Yes, go ahead with Friday", "Friday", "action"),
        ("Do you charge for pets?", "Don't you charge for pets?", "negation"),
        ("Book it with the oven", "Book it without the oven", "negation"),
        ("Is there a fee?", "Is there no fee?", "negation"),
        ("Clean 3 bedrooms", "Clean 4 bedrooms", "number"),
        ("Clean three bedrooms", "Clean 4 bedrooms", "number"),
        ("Is it $120?", "Is it $150?", "number"),
        ("Twenty five dollars?", "25 dollars?", None),
        ("Book for the 15th", "Book for the 16th", "number"),
        ("Book on Friday", "Book on Thursday", "date"),
        ("Book for next Friday", "Book for this Friday", "date"),
        ("Book for next week", "Book for last week", "date"),
        ("Book on 5/12", "Book on 5/21", "date"),
        ("Book for June 3", "Book for July 3", "date"),
        ("Book for tomorrow", "Book for today", "date"),
        ("Book at 3pm", "Book at 3am", "time"),
        ("Book at 3pm", "Book at 15:00", None),
        ("Book at 9 a.m.", "Book at 9am", None),
        ("Book in the morning", "Book in the evening", "time"),
        ("Can Maria come?", "Can Anna come?", "name"),
        ("Can Maria come?", "could maria come?", None),
        ("Maria, can you come?", "Anna, can you come?", "name"),
        ("Book a deep clean", "Book a standard clean", "service"),
        ("Book a move-out clean", "Book a move-in clean", "service"),
        ("Book a cleaning for my apartment", "Book a cleaning for my office", "service"),
        ("Book a weekly cleaning", "Book a monthly cleaning", "service"),
        ("When is my cleaning?", "Where is my cleaning?", "aspect"),
        ("How much does a deep clean cost?", "How long does a deep clean take?", "aspect"),
        ("When will the cleaner arrive?", "What time will the cleaner arrive?", None),
        (
            "Can I book a deep cleaning for Friday?",
            "Could I book a deep cleaning for Friday?",
            None,
        ),
        ("How do I cancel my booking?", "How can I cancel my booking?", None),
        ("Is Tuesday available?", "Is Tuesday free?", None),
        ("Are you open on Saturdays?", "Are you open Saturday?", None),
    ],
)
def test_meaning_differs(a: str, b: str, why: str | None) -> None:
    assert meaning_differs(a, b) == why
    assert meaning_differs(b, a) == why


def test_meaning_of_reads_the_features() -> None:
    meaning = meaning_of("Don't book Maria for 2 bedrooms next Friday at 3:30pm, deep clean")
    assert meaning.negated
    assert meaning.actions == {"book"}
    assert meaning.numbers == {"2"}
    assert meaning.dates == {"next:fri"}
    assert meaning.times == {"15:30"}
    assert meaning.names == {"maria"}
    assert meaning.services == {"bedroom", "deep"}


def test_may_is_a_month_only_next_to_a_number() -> None:
    assert meaning_of("May I book a cleaning?").dates == frozenset()
    assert meaning_of("Book for May 2").dates == {"month:5"}
