"""The ``steadyllm`` command."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import click

from steadyllm import cli_cache, cli_experiments, cli_keys, cli_lifecycle, cli_local
from steadyllm.config import ConfigError, Settings, load_settings

__all__ = ["main"]


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def main(log_level: str) -> None:
    """steadyllm: a reliability and lifecycle gateway for LLM applications."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@main.command()
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML config; without it, the embedded default (SQLite + simulator).",
)
@click.option("--host", default=None, help="Overrides server.host (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Overrides server.port (default 8080).")
@click.option("--insecure", is_flag=True, help="Allow a non-loopback address without an admin key.")
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=1),
    help="Overrides server.workers: processes sharing the port (more than 1 needs Redis).",
)
def serve(
    config: Path | None, host: str | None, port: int | None, insecure: bool, workers: int | None
) -> None:
    """Run the gateway."""
    from steadyllm.server.run import serve_forever

    settings = _settings(config)
    server = settings.server
    updates: dict[str, Any] = {}
    if insecure:
        updates["insecure"] = True
    if workers is not None:
        updates["workers"] = workers
    if updates:
        settings = settings.model_copy(update={"server": server.model_copy(update=updates)})
    bind_host = host or server.host
    bind_port = server.port if port is None else port
    if config is None:
        click.echo(
            "steadyllm: no --config given; embedded default (SQLite file steadyllm.db, "
            "in-memory counters, models answered by the SIMULATED upstream).",
            err=True,
        )
    try:
        status = serve_forever(
            settings,
            host=bind_host,
            port=bind_port,
            on_ready=lambda bound: click.echo(
                f"steadyllm listening on http://{bind_host}:{bound}", err=True
            ),
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if status:
        sys.exit(status)


@main.command("check-config")
@click.argument("path", type=click.Path(path_type=Path))
def check_config(path: Path) -> None:
    """Validate a config file and print what it would run."""
    from steadyllm.providers.base import create_provider

    settings = _settings(path)
    problems = []
    for i, model in enumerate(settings.models):
        for j, deployment in enumerate(model.deployments):
            try:
                create_provider(deployment)  # its own checks; no connection is made
            except ConfigError as exc:
                problems.append(f"models[{i}].deployments[{j}]: {exc}")
    if problems:
        raise click.ClickException("invalid configuration:\n  " + "\n  ".join(problems))
    s = settings.server
    click.echo(
        f"server: http://{s.host}:{s.port}  admin key: {'set' if s.admin_key else 'NOT SET'}"
        f"  max body: {s.max_body_bytes} bytes"
    )
    click.echo(f"store: {settings.store.url}  counters: {settings.store.redis_url or 'in-memory'}")
    for model in settings.models:
        fallbacks = f"  -> fallbacks: {', '.join(model.fallbacks)}" if model.fallbacks else ""
        click.echo(f"model {model.name} ({model.kind}){fallbacks}")
        for d in model.deployments:
            price = (
                f"${d.price.input_per_million}/${d.price.output_per_million} per M tokens"
                if d.price
                else "NO PRICE (calls recorded without cost)"
            )
            where = d.api_base or ("in-process simulator" if d.provider == "sim" else "default")
            click.echo(f"  - {d.provider}:{d.model} @ {where}  weight {d.weight:g}  {price}")
    click.echo("config OK")


@main.command()
@click.option("--config", "config", type=click.Path(path_type=Path), default=None)
def migrate(config: Path | None) -> None:
    """Create or upgrade the SQL schema of the configured store."""
    from steadyllm.stores.sql.migrate import upgrade

    settings = _settings(config)
    url = settings.store.url
    if url.startswith("memory"):
        click.echo("memory store: nothing to migrate")
        return
    try:
        asyncio.run(upgrade(url))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"schema of {url} is up to date")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9090, show_default=True, type=int)
@click.option(
    "--latency-ms", default=0.0, show_default=True, type=float, help="Base latency of every answer."
)
@click.option("--jitter-ms", default=0.0, show_default=True, type=float)
@click.option(
    "--token-delay-ms",
    default=0.0,
    show_default=True,
    type=float,
    help="Delay between streamed chunks.",
)
@click.option(
    "--error-rate",
    default=0.0,
    show_default=True,
    type=float,
    help="Share of requests answered 500.",
)
@click.option("--rate-502", default=0.0, type=float)
@click.option("--rate-503", default=0.0, type=float)
@click.option("--rate-429", default=0.0, type=float)
@click.option("--retry-after", default=1.0, type=float, help="Retry-After on 429s (seconds).")
@click.option("--hang-rate", default=0.0, type=float)
@click.option("--hang-seconds", default=30.0, show_default=True, type=float)
@click.option("--reset-rate", default=0.0, type=float)
@click.option("--malformed-rate", default=0.0, type=float)
@click.option("--stream-cut-rate", default=0.0, type=float)
@click.option("--seed", default=0, type=int)
def sim(
    host: str,
    port: int,
    latency_ms: float,
    jitter_ms: float,
    token_delay_ms: float,
    error_rate: float,
    rate_502: float,
    rate_503: float,
    rate_429: float,
    retry_after: float,
    hang_rate: float,
    hang_seconds: float,
    reset_rate: float,
    malformed_rate: float,
    stream_cut_rate: float,
    seed: int,
) -> None:
    """Run the SIMULATED upstream (OpenAI + Anthropic wire formats, scripted faults)."""
    from steadyllm.sim.faults import FaultPlan
    from steadyllm.sim.server import run_sim

    try:
        plan = FaultPlan(
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            token_delay_ms=token_delay_ms,
            rate_500=error_rate,
            rate_502=rate_502,
            rate_503=rate_503,
            rate_429=rate_429,
            retry_after=retry_after,
            hang_rate=hang_rate,
            hang_seconds=hang_seconds,
            reset_rate=reset_rate,
            malformed_rate=malformed_rate,
            stream_cut_rate=stream_cut_rate,
            seed=seed,
        )
    except (TypeError, ValueError) as exc:
        raise click.ClickException(f"bad fault option: {exc}") from None
    click.echo(
        f"steadyllm SIMULATED upstream on http://{host}:{port}/v1 "
        "(not a real model; change faults with PUT /sim/faults)",
        err=True,
    )
    run_sim(host, port, plan)


main.add_command(cli_keys.keys)
main.add_command(cli_keys.usage)
main.add_command(cli_local.hardware)
main.add_command(cli_local.catalog)
main.add_command(cli_cache.cache)
main.add_command(cli_experiments.experiments)
main.add_command(cli_lifecycle.eval_group)
main.add_command(cli_lifecycle.export)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
