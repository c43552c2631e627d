"""Offline evaluation: scorers, the case file, and ``steadyllm eval seed|run``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from steadyllm.cli import main
from steadyllm.errors import InvalidRequest
from steadyllm.gateway import Gateway
from steadyllm.lifecycle.evaluation import (
    EvalCase,
    Evaluator,
    judge_score,
    load_cases,
    score_reply,
    seed_cases,
)
from tests.lifecycle.helpers import sim_config


@pytest.mark.parametrize(
    ("scorer", "expected", "field", "reply", "score"),
    [
        ("exact", "yes", None, " yes\n", 1.0),
        ("exact", "yes", None, "yes please", 0.0),
        ("contains", "Tuesday", None, "See you on tuesday", 1.0),
        ("contains", "Tuesday", None, "See you Monday", 0.0),
        ("regex", r"\d{2}:\d{2}", None, "at 10:30", 1.0),
        ("regex", r"\d{2}:\d{2}", None, "at ten", 0.0),
        ("json_field", "book", "action.name", '{"action": {"name": "book"}}', 1.0),
        ("json_field", "book", "action.name", '{"action": {"name": "wait"}}', 0.0),
        ("json_field", "book", "action", "not json", 0.0),
    ],
)
def test_scorers(scorer: str, expected: Any, field: str | None, reply: str, score: float) -> None:
    case = EvalCase("c", "question", scorer, expected, field)
    assert score_reply(case, reply) == score


@pytest.mark.parametrize(
    ("verdict", "score"), [("8", 0.8), ("Score: 10", 1.0), ("7.5 out of ten", 0.75), ("good", None)]
)
def test_judge_scores(verdict: str, score: float | None) -> None:
    assert judge_score(verdict) == score


def test_case_file_round_trip_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    assert seed_cases(path) == 10
    with pytest.raises(FileExistsError):
        seed_cases(path)
    cases = load_cases(path)
    assert {c.scorer for c in cases} == {"contains", "regex", "json_field", "judge"}
    with pytest.raises(InvalidRequest):
        EvalCase.parse({"input": "x", "scorer": "vibes"})
    with pytest.raises(InvalidRequest):
        EvalCase.parse({"input": "x", "scorer": "json_field"})


async def test_judge_goes_through_the_chat_function() -> None:
    asked: list[str] = []

    async def chat(messages: list[dict[str, Any]], *, model: str, **_: Any) -> dict[str, Any]:
        asked.append(model)
        text = "9" if model == "judge" else "Bring your insurance card."
        return {"choices": [{"message": {"content": text}}]}

    evaluator = Evaluator(chat, model="fast", judge_model="judge", min_score=0.8)
    report = await evaluator.run("prompt", [EvalCase("j", "What to bring?", "judge", "card")])
    assert asked == ["fast", "judge"]
    assert report.average == pytest.approx(0.9)
    assert report.passed


def test_cli_seed_and_run_against_the_simulator(tmp_path: Path) -> None:
    config = sim_config(tmp_path)
    config_path = tmp_path / "steadyllm.yaml"
    config_path.write_bytes(orjson.dumps(config))  # JSON is YAML

    async def register() -> None:
        async with Gateway.from_config(config) as gateway:
            await gateway.lifecycle.versions.register("baseline", "You book appointments.")

    asyncio.run(register())
    runner = CliRunner()
    seeded = runner.invoke(main, ["eval", "seed", "--config", str(config_path)])
    assert seeded.exit_code == 0, seeded.output
    assert Path(config["lifecycle"]["evaluation"]["cases_path"]).exists()
    result = runner.invoke(
        main,
        ["eval", "run", "--config", str(config_path), "--variant", "baseline", "--version", "1"],
    )
    assert result.exit_code == 0, result.output
    assert "greet" in result.output
    assert "judge" in result.output
    assert "average 0.900 (minimum 0.80): PASS" in result.output
    missing = runner.invoke(
        main,
        ["eval", "run", "--config", str(config_path), "--variant", "baseline", "--version", "4"],
    )
    assert missing.exit_code != 0
    assert "no version 4" in missing.output


def test_the_committed_cases_are_the_seeded_ones(tmp_path: Path) -> None:
    committed = Path(__file__).parent.parent / "data" / "eval_cases.jsonl"
    seed_cases(tmp_path / "seeded.jsonl")
    assert load_cases(committed) == load_cases(tmp_path / "seeded.jsonl")
