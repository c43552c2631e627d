"""``steadyllm hardware`` and ``steadyllm catalog``: local inference from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson

from steadyllm.config import ConfigError, load_settings
from steadyllm.errors import GatewayError
from steadyllm.local.recommend import Advisor, parse_tier
from steadyllm.policy.catalog_fit import Constraints

__all__ = ["catalog", "hardware", "local_commands"]

_config_option = click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML config (its local section extends the catalog); default: the shipped catalog.",
)
_tier_option = click.option(
    "--tier",
    default=None,
    help="Plan for a reference machine of this tier instead of this one "
    "(CPU_ONLY, IGPU, LOW_VRAM_GPU, MID_VRAM_GPU, HIGH_VRAM_GPU, MULTI_GPU).",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _advisor(config: Path | None) -> Advisor:
    try:
        return Advisor(load_settings(config).local)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _echo_json(data: Any) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def _tier(value: str | None) -> Any:
    try:
        return parse_tier(value)
    except GatewayError as exc:
        raise click.BadParameter(exc.message, param_hint="--tier") from None


@click.command()
@_config_option
@_json_option
def hardware(config: Path | None, as_json: bool) -> None:
    """Print this machine's CPU, RAM, GPUs and hardware tier."""
    advisor = _advisor(config)
    info = advisor.hardware(advisor.profile_blocking())
    if as_json:
        _echo_json(info)
        return
    cpu = info["cpu"]
    click.echo(f"tier: {info['tier']}")
    click.echo(
        f"cpu: {cpu['model']}  {cpu['physical_cores']} cores / {cpu['logical_cores']} threads"
        f"  simd: {' '.join(cpu['simd']) or 'none found'}"
    )
    click.echo(f"ram: {info['ram_gib']} GiB ({info['ram_available_gib']} GiB available)")
    if not info["gpus"]:
        click.echo("gpus: none")
    for gpu in info["gpus"]:
        kind = "integrated" if gpu["integrated"] else "discrete"
        click.echo(f"gpu: {gpu['name']} ({gpu['vendor']}, {kind}) {gpu['memory_gib']} GiB")
    for note in info["notes"]:
        click.echo(f"note: {note}")


@click.group(invoke_without_command=True)
@_config_option
@_tier_option
@click.option("--kind", type=click.Choice(["chat", "embeddings"]), default=None)
@_json_option
@click.pass_context
def catalog(
    ctx: click.Context, config: Path | None, tier: str | None, kind: str | None, as_json: bool
) -> None:
    """List the model catalog with each model's fit on this machine."""
    ctx.obj = (config, tier)
    if ctx.invoked_subcommand is not None:
        return
    advisor = _advisor(config)
    listing = advisor.listing(advisor.profile_blocking(_tier(tier)), kind=kind)
    if as_json:
        _echo_json(listing)
        return
    click.echo(f"tier: {listing['tier']}")
    click.echo(f"{'model':32} {'params':>7} {'quality':>7}  {'fit':34} tags")
    for model in listing["data"]:
        fit = model["fit"]
        click.echo(
            f"{model['id']:32} {model['params_b']:>6g}B {model['quality_score']:>7g}  "
            f"{_fit_text(fit):34} {','.join(model['tags'])}"
        )


def _fit_text(fit: dict[str, Any]) -> str:
    speed = fit["tokens_per_second"]
    rate = f" ~{speed:g} tok/s" if speed is not None else ""
    if fit["fits"]:
        return f"yes {fit['quantization']} {fit['placement']}{rate}"
    if fit["placement"] is not None:
        return f"slow {fit['quantization']} {fit['placement']}{rate}"
    return f"no (needs {fit['required_gib']:g} GiB)"


@catalog.command("recommend")
@click.option("--tag", "tags", multiple=True, help="A tag the model must have (repeatable).")
@click.option("--min-quality", type=float, default=0.0, show_default=True)
@click.option("--context", type=int, default=None, help="Tokens of context needed.")
@click.option("--quantization", default=None)
@click.option("--min-tokens-per-second", type=float, default=None)
@click.option("--kind", type=click.Choice(["chat", "embeddings"]), default="chat")
@click.option("--limit", type=click.IntRange(1, 100), default=5, show_default=True)
@_json_option
@click.pass_obj
def recommend_command(
    obj: tuple[Path | None, str | None],
    tags: tuple[str, ...],
    min_quality: float,
    context: int | None,
    quantization: str | None,
    min_tokens_per_second: float | None,
    kind: str,
    limit: int,
    as_json: bool,
) -> None:
    """Recommend models that fit (use: steadyllm catalog [--tier T] recommend ...)."""
    config, tier = obj
    advisor = _advisor(config)
    result = advisor.recommend(
        advisor.profile_blocking(_tier(tier)),
        Constraints(
            kind=kind,
            required_tags=frozenset(tags),
            min_quality_score=min_quality,
            context=context,
            quantization=quantization,
            min_tokens_per_second=min_tokens_per_second,
            limit=limit,
        ),
    )
    if as_json:
        _echo_json(result)
        return
    click.echo(f"tier: {result['tier']}")
    if not result["recommendations"]:
        click.echo("no catalog model meets these constraints on this machine")
    for index, item in enumerate(result["recommendations"], 1):
        sources = item["entry"]["sources"]
        where = sources.get("ollama") or sources.get("gguf") or sources.get("hf") or ""
        click.echo(
            f"{index}. {item['model']} {item['quantization']} on {item['placement']}: "
            f"{item['required_gib']:g} GiB, ~{item['tokens_per_second']:g} tokens/s "
            f"({item['speed_source']}), score {item['score']:g}  [{where}]"
        )


@catalog.command("check")
@click.argument("model")
@click.option("--quantization", default=None)
@click.option("--context", type=int, default=None)
@_json_option
@click.pass_obj
def check_command(
    obj: tuple[Path | None, str | None],
    model: str,
    quantization: str | None,
    context: int | None,
    as_json: bool,
) -> None:
    """Say whether MODEL runs here; exits 1 when it does not."""
    config, tier = obj
    advisor = _advisor(config)
    try:
        result = advisor.check(
            advisor.profile_blocking(_tier(tier)),
            model,
            quantization=quantization,
            context=context,
        )
    except GatewayError as exc:
        raise click.ClickException(exc.message) from None
    if as_json:
        _echo_json(result)
    else:
        verdict = "fits" if result["fits"] else "does NOT fit"
        click.echo(
            f"{model} {result['quantization']} ({result['context']} tokens of context) "
            f"{verdict} this {result['tier']} machine: needs {result['required_gib']:g} GiB, "
            f"budget {result['budget_gib']:g} GiB"
            + (f", placement {result['placement']}" if result["placement"] else "")
        )
        for reason in result["reasons"]:
            click.echo(f"  - {reason}")
    if not result["fits"]:
        raise SystemExit(1)


local_commands = [hardware, catalog]
