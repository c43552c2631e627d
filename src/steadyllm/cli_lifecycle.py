"""``steadyllm eval seed|run`` and ``steadyllm export``: offline evaluation and learning data.

Both open the gateway in-process (the same config as ``serve``), so evaluation calls
go through the whole pipeline and versions come from the configured store.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from steadyllm.config import ConfigError, Settings, load_settings

__all__ = ["eval_group", "export"]

_CONFIG = click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML config; without it, the embedded default (SQLite + simulator).",
)


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("eval")
def eval_group() -> None:
    """Offline evaluation of prompt versions against test cases."""


@eval_group.command("seed")
@_CONFIG
@click.option("--cases", type=click.Path(path_type=Path), default=None, help="Where to write.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def seed(config: Path | None, cases: Path | None, force: bool) -> None:
    """Write the default evaluation cases (JSONL)."""
    from steadyllm.lifecycle.evaluation import seed_cases

    path = cases or Path(_settings(config).lifecycle.evaluation.cases_path)
    try:
        count = seed_cases(path, overwrite=force)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {count} cases to {path}")


@eval_group.command("run")
@_CONFIG
@click.option("--variant", required=True)
@click.option("--version", "version", type=int, required=True)
@click.option("--cases", type=click.Path(path_type=Path, exists=True), default=None)
def run(config: Path | None, variant: str, version: int, cases: Path | None) -> None:
    """Score VARIANT's version N on every case; exit 1 below the minimum average."""
    settings = _settings(config)
    path = cases or Path(settings.lifecycle.evaluation.cases_path)
    if not path.exists():
        raise click.ClickException(f"{path} does not exist; run 'steadyllm eval seed' first")
    passed = asyncio.run(_run(settings, variant, version, path))
    if not passed:
        raise SystemExit(1)


async def _run(settings: Settings, variant: str, version: int, path: Path) -> bool:
    from steadyllm.errors import GatewayError
    from steadyllm.gateway import Gateway
    from steadyllm.lifecycle.evaluation import Evaluator, load_cases

    cases = load_cases(path)
    evaluation = settings.lifecycle.evaluation
    async with Gateway(settings) as gateway:
        try:
            prompt = (await gateway.lifecycle.versions.get(variant, version)).system_prompt
        except GatewayError as exc:
            raise click.ClickException(exc.message) from None
        evaluator = Evaluator(
            gateway.chat,
            model=evaluation.model,
            judge_model=evaluation.judge_model,
            min_score=evaluation.min_score,
        )
        with click.progressbar(length=len(cases), label=f"{variant} v{version}") as bar:
            report = await evaluator.run(prompt, cases, progress=lambda _: bar.update(1))
    for result in report.results:
        note = f"  ({result.note})" if result.note else ""
        click.echo(f"{result.case:<20} {result.scorer:<11} {result.score:.2f}{note}")
    verdict = "PASS" if report.passed else "FAIL"
    click.echo(f"average {report.average:.3f} (minimum {report.min_score:.2f}): {verdict}")
    return report.passed


@click.command("export")
@_CONFIG
@click.option("--variant", default=None, help="Only this variant's conversations.")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None)
@click.option("--min-rating", type=float, default=4.0, show_default=True)
def export(
    config: Path | None, variant: str | None, directory: Path | None, min_rating: float
) -> None:
    """Export good conversations since the last export as chat-format JSONL."""
    settings = _settings(config)
    target = directory or Path(settings.lifecycle.export_dir)
    asyncio.run(_export(settings, variant, target, min_rating))


async def _export(
    settings: Settings, variant: str | None, directory: Path, min_rating: float
) -> None:
    from steadyllm.gateway import Gateway

    async with Gateway(settings) as gateway:
        done = await gateway.lifecycle.exporter.export(
            directory, variant=variant, min_rating=min_rating
        )
    if done is None:
        click.echo("nothing new to export")
    else:
        click.echo(f"exported {done.count} conversations to {done.path}")
