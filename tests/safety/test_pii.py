"""PII detection and redaction: a table of cases."""

from __future__ import annotations

import pytest

from steadyllm.policy.pii import find_pii, luhn_valid, redact_pii


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("mail sam.taylor@example.co.uk today", ["email"]),
        ("call 07700 900123", ["phone"]),
        ("call +44 20 7946 0958 now", ["phone"]),
        ("or (555) 123-4567", ["phone"]),
        ("card 4111 1111 1111 1111 exp 12/27", ["card"]),
        ("card 4111-1111-1111-1111", ["card"]),
        ("booking BK-20931 on 2024-05-12 at 10:30 for £120.00", []),
        ("invoice 4111 1111 1111 1112", []),  # fails Luhn; 16 digits is too long for a phone
        ("we are at 12 Oak Street, LS6 2AB", []),
        ("a@b", []),
    ],
)
def test_find(text: str, kinds: list[str]) -> None:
    assert [m.kind for m in find_pii(text)] == kinds


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("5555555555554444")
    assert not luhn_valid("4111111111111112")


def test_redact_replaces_and_counts() -> None:
    text, counts = redact_pii("Reach me at a.b@example.com or 07700 900123, card 5555555555554444.")
    assert text == "Reach me at [email] or [phone], card [card]."
    assert counts == {"email": 1, "phone": 1, "card": 1}


def test_redact_only_the_kinds_asked() -> None:
    text, counts = redact_pii("a.b@example.com 07700 900123", ["phone"])
    assert text == "a.b@example.com [phone]"
    assert counts == {"phone": 1}
