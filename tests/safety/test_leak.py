"""System-prompt leak detection: verbatim, light paraphrase, canary; whole and streamed."""

from __future__ import annotations

import pytest

from steadyllm.policy.leak import LeakScanner, PromptFingerprint, check_leak, redact_leak

SYSTEM = (
    "You are the booking assistant for SparkleClean, a cleaning company in Leeds. "
    "Never offer discounts above 10 percent. Never reveal the phone numbers or home "
    "addresses of staff. Only discuss cleaning services, bookings, prices and availability. "
    "If a customer asks for a refund, pass them to a human agent."
)
FINGERPRINT = PromptFingerprint.of(SYSTEM, canaries=("sl-canary-7f3a9c",))

VERBATIM = f"Of course! My instructions say: {SYSTEM} Anything else?"
PARAPHRASE = (
    "Sure - I'm SparkleClean's booking helper for a Leeds cleaning firm. I must not give "
    "discounts over 10 percent, and staff phone numbers and home addresses are never revealed. "
    "I only talk about cleaning services, bookings, prices and availability, and refund "
    "requests get passed to a human agent."
)
BENIGN = [
    "Thanks for booking with SparkleClean! Your standard clean is confirmed for Tuesday at "
    "10am. Our staff will bring all cleaning supplies.",
    "Prices start at 60 pounds for a standard clean, and availability next week is good. "
    "Deep cleans take longer and cost a little more.",
    "I'm sorry, I can't share staff phone numbers, but I can pass your message on. Would you "
    "like to book a clean in Leeds this week?",
    "Refunds are handled by our customer team: I've passed your request to a human agent, "
    "who will email you within a day.",
    "We offer standard, deep and end-of-tenancy cleaning services across Leeds. Bookings can "
    "be moved free of charge up to 24 hours before.",
]


def test_verbatim_copy_is_a_leak() -> None:
    verdict = check_leak(VERBATIM, FINGERPRINT)
    assert "verbatim" in verdict.kinds


def test_light_paraphrase_is_a_leak() -> None:
    verdict = check_leak(PARAPHRASE, FINGERPRINT)
    assert verdict.kinds == ("paraphrase",)
    assert verdict.findings[0].score >= 0.6


def test_canary_is_a_leak_in_any_case() -> None:
    assert check_leak("ref SL-CANARY-7F3A9C", FINGERPRINT).kinds == ("canary",)


@pytest.mark.parametrize("answer", BENIGN)
def test_ordinary_answers_on_the_same_topics_are_not_leaks(answer: str) -> None:
    assert not check_leak(answer, FINGERPRINT).leaked


def test_short_prompts_are_not_checked_for_overlap() -> None:
    tiny = PromptFingerprint.of("You are a helpful assistant.")
    assert not check_leak("I am a helpful assistant, you are a helpful assistant.", tiny).leaked


def test_a_short_prompt_leaks_when_half_of_it_is_copied() -> None:
    prompt = "Always answer in French and never mention the secret launch date of Project Blue."
    fingerprint = PromptFingerprint.of(prompt)
    assert check_leak(f"Well: {prompt}", fingerprint).leaked
    assert not check_leak("Je peux vous aider avec votre réservation.", fingerprint).leaked


@pytest.mark.parametrize("size", [1, 3, 7, 50])
def test_streamed_pieces_find_what_the_whole_answer_finds(size: int) -> None:
    for answer in (VERBATIM, PARAPHRASE, BENIGN[0], "x sl-canary-7f3a9c y"):
        scanner = LeakScanner(FINGERPRINT)
        for start in range(0, len(answer), size):
            scanner.feed(answer[start : start + size])
        streamed = scanner.finish()
        assert set(streamed.kinds) == set(check_leak(answer, FINGERPRINT).kinds), (size, answer)


def test_a_stream_is_caught_before_it_ends() -> None:
    scanner = LeakScanner(FINGERPRINT)
    seen = 0
    for start in range(0, len(VERBATIM), 10):
        seen = start
        if scanner.feed(VERBATIM[start : start + 10]).leaked:
            break
    assert scanner.verdict.leaked
    assert seen < len(VERBATIM) // 2


def test_redaction_removes_copied_runs_and_paraphrasing_sentences() -> None:
    redacted = redact_leak(VERBATIM, FINGERPRINT)
    assert "Never offer discounts" not in redacted
    assert "[redacted]" in redacted
    assert redacted.startswith("Of course!")
    assert not check_leak(redacted, FINGERPRINT).leaked
    redacted = redact_leak(PARAPHRASE, FINGERPRINT)
    assert not check_leak(redacted, FINGERPRINT).leaked
    assert redact_leak("code sl-canary-7f3a9c.", FINGERPRINT) == "code [redacted]."
    assert redact_leak(BENIGN[0], FINGERPRINT) == BENIGN[0]
