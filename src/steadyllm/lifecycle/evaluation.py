"""Offline evaluation: test cases from a JSONL file, scored against a prompt.

A case is ``{"id", "input", "scorer", "expected", "field"?}``; scorers:

- ``exact``: the reply, stripped, equals ``expected``;
- ``contains``: the reply contains ``expected`` (case-insensitive);
- ``regex``: ``expected`` is a regular expression found in the reply;
- ``json_field``: the reply is a JSON object whose ``field`` (dotted path) equals
  ``expected`` (the case is asked with ``response_format: json_object``);
- ``judge``: a judge model, called through the gateway, rates the answer from zero
  to ten; the score is that rating / 10 (0 when the judge gives no number).

Every call goes through the gateway itself, so evaluation is recorded and billed
like any other traffic.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from steadyllm.errors import InvalidRequest

__all__ = [
    "SCORERS",
    "EvalCase",
    "EvalReport",
    "Evaluator",
    "load_cases",
    "score_reply",
    "seed_cases",
]

SCORERS = ("exact", "contains", "regex", "json_field", "judge")
_NUMBER = re.compile(r"\b(10|[0-9](?:\.[0-9]+)?)\b")

Chat = Callable[..., Awaitable[dict[str, Any]]]  # Gateway.chat


@dataclass(frozen=True, slots=True)
class EvalCase:
    id: str
    input: str
    scorer: str
    expected: Any
    field: str | None = None

    @classmethod
    def parse(cls, raw: Any) -> EvalCase:
        if not isinstance(raw, dict) or not isinstance(raw.get("input"), str):
            raise InvalidRequest("An evaluation case is an object with an 'input' string.")
        scorer = raw.get("scorer", "contains")
        if scorer not in SCORERS:
            raise InvalidRequest(f"Case {raw.get('id')!r}: scorer must be one of {SCORERS}.")
        if scorer == "json_field" and not isinstance(raw.get("field"), str):
            raise InvalidRequest(f"Case {raw.get('id')!r}: json_field needs 'field'.")
        return cls(
            str(raw.get("id", "")), raw["input"], scorer, raw.get("expected"), raw.get("field")
        )


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: str
    scorer: str
    score: float
    reply: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class EvalReport:
    results: tuple[CaseResult, ...]
    min_score: float

    @property
    def average(self) -> float:
        return sum(r.score for r in self.results) / len(self.results) if self.results else 0.0

    @property
    def passed(self) -> bool:
        return bool(self.results) and self.average >= self.min_score

    def to_json(self) -> dict[str, Any]:
        return {
            "average": self.average,
            "passed": self.passed,
            "minScore": self.min_score,
            "cases": [
                {"id": r.case, "scorer": r.scorer, "score": r.score, "note": r.note}
                for r in self.results
            ],
        }


DEFAULT_CASES: tuple[dict[str, Any], ...] = (
    {
        "id": "greet",
        "input": "Hello, I would like an appointment",
        "scorer": "contains",
        "expected": "appointment",
    },
    {
        "id": "book",
        "input": "Book me for Tuesday morning please",
        "scorer": "contains",
        "expected": "tuesday",
    },
    {
        "id": "price",
        "input": "How much does a cleaning cost?",
        "scorer": "regex",
        "expected": r"(?i)cleaning",
    },
    {
        "id": "hours",
        "input": "Are you open on Saturday?",
        "scorer": "contains",
        "expected": "saturday",
    },
    {
        "id": "cancel",
        "input": "I need to cancel my visit",
        "scorer": "regex",
        "expected": r"(?i)\bcancel\b",
    },
    {
        "id": "structured",
        "input": "Give the booking as JSON",
        "scorer": "json_field",
        "field": "simulated",
        "expected": True,
    },
    {
        "id": "confirm",
        "input": "Please confirm my booking for Friday",
        "scorer": "contains",
        "expected": "friday",
    },
    {
        "id": "reschedule",
        "input": "Can I reschedule to next week?",
        "scorer": "contains",
        "expected": "reschedule",
    },
    {
        "id": "insurance",
        "input": "Do you take dental insurance?",
        "scorer": "regex",
        "expected": r"(?i)insurance",
    },
    {
        "id": "helpful",
        "input": "What should I bring to my first visit?",
        "scorer": "judge",
        "expected": "A helpful, specific answer about what to bring.",
    },
)


def seed_cases(path: Path, *, overwrite: bool = False) -> int:
    """Write the default cases to ``path`` (JSONL); refuses to overwrite unless told."""
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (use --force to overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(case) + b"\n" for case in DEFAULT_CASES))
    return len(DEFAULT_CASES)


def load_cases(path: Path) -> list[EvalCase]:
    cases = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                cases.append(EvalCase.parse(orjson.loads(line)))
            except orjson.JSONDecodeError as exc:
                raise InvalidRequest(f"{path}:{number}: not JSON: {exc}") from None
    return cases


def _field(value: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def score_reply(case: EvalCase, reply: str) -> float:
    """The score of ``reply`` for every scorer but ``judge`` (which needs a model)."""
    expected = case.expected
    if case.scorer == "exact":
        return float(reply.strip() == str(expected).strip())
    if case.scorer == "contains":
        return float(str(expected).lower() in reply.lower())
    if case.scorer == "regex":
        return float(re.search(str(expected), reply) is not None)
    if case.scorer == "json_field":
        try:
            parsed = orjson.loads(reply)
        except orjson.JSONDecodeError:
            return 0.0
        return float(_field(parsed, case.field or "") == expected)
    raise ValueError(f"scorer {case.scorer!r} needs the judge")


def judge_score(reply: str) -> float | None:
    found = _NUMBER.search(reply)
    return None if found is None else min(float(found.group(1)), 10.0) / 10


def _content(body: dict[str, Any]) -> str:
    message = body["choices"][0]["message"]
    return str(message.get("content") or "")


class Evaluator:
    def __init__(self, chat: Chat, *, model: str, judge_model: str, min_score: float) -> None:
        self._chat = chat
        self.model = model
        self.judge_model = judge_model
        self.min_score = min_score

    async def _case(self, case: EvalCase, system_prompt: str) -> CaseResult:
        messages = [
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": case.input},
        ]
        params: dict[str, Any] = {}
        if case.scorer == "json_field":
            params["response_format"] = {"type": "json_object"}
        reply = _content(await self._chat(messages, model=self.model, **params))
        if case.scorer != "judge":
            return CaseResult(case.id, case.scorer, score_reply(case, reply), reply)
        question = (
            "You grade an assistant's answer. Reply with one number from zero to ten.\n"
            f"Question: {case.input}\nWhat a good answer does: {case.expected}\nAnswer: {reply}"
        )
        verdict = _content(
            await self._chat([{"role": "user", "content": question}], model=self.judge_model)
        )
        score = judge_score(verdict)
        note = "" if score is not None else "the judge gave no score"
        return CaseResult(case.id, "judge", score or 0.0, reply, note)

    async def run(
        self,
        system_prompt: str,
        cases: Iterable[EvalCase],
        *,
        progress: Callable[[CaseResult], None] | None = None,
    ) -> EvalReport:
        results = []
        for case in cases:
            try:
                result = await self._case(case, system_prompt)
            except Exception as exc:  # a failed call scores 0 and is reported, not fatal
                result = CaseResult(case.id, case.scorer, 0.0, "", f"call failed: {exc}")
            results.append(result)
            if progress is not None:
                progress(result)
        return EvalReport(tuple(results), self.min_score)
