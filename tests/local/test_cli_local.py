"""``steadyllm hardware`` and ``steadyllm catalog``."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from steadyllm.cli import main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_hardware() -> None:
    code, output = run("hardware")
    assert code == 0
    assert output.startswith("tier: ")
    assert "ram: " in output
    code, output = run("hardware", "--json")
    assert code == 0
    assert orjson.loads(output)["cpu"]["logical_cores"] >= 1


def test_catalog_listing() -> None:
    code, output = run("catalog", "--tier", "HIGH_VRAM_GPU")
    assert code == 0
    assert "tier: HIGH_VRAM_GPU" in output
    assert "llama-3.1-8b-instruct" in output
    code, output = run("catalog", "--kind", "embeddings", "--json")
    assert {m["kind"] for m in orjson.loads(output)["data"]} == {"embeddings"}


def test_recommend() -> None:
    code, output = run("catalog", "--tier", "MID_VRAM_GPU", "recommend", "--tag", "code")
    assert code == 0
    assert "1. qwen2.5-coder" in output
    code, output = run("catalog", "recommend", "--tag", "no-such-tag")
    assert code == 0
    assert "no catalog model meets these constraints" in output


def test_check_exits_1_when_the_model_does_not_fit() -> None:
    code, output = run("catalog", "check", "smollm2-135m-instruct")
    assert code == 0
    assert " fits this " in output
    code, output = run("catalog", "check", "qwen2.5-72b-instruct", "--quantization", "F16")
    assert code == 1
    assert "does NOT fit" in output
    code, output = run("catalog", "check", "no-such-model")
    assert code == 1
    assert "no model 'no-such-model' in the catalog" in output


def test_bad_tier_and_bad_config(tmp_path: Path) -> None:
    code, output = run("catalog", "--tier", "GIANT")
    assert code == 2
    assert "unknown tier" in output
    config = tmp_path / "c.yaml"
    config.write_text("local: {catalog: [{id: x}]}\n", encoding="utf-8")
    code, output = run("catalog", "--config", str(config))
    assert code == 1
    assert "local.catalog[0].params_b" in output
