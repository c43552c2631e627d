"""``steadyllm keys create/list/update/revoke`` and ``steadyllm usage``.

They work on the configured store directly (``store.url``: SQLite or PostgreSQL),
so they need no running gateway. A running gateway sees a new key at once and a
change or revocation within ``access.key_cache_seconds``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import orjson

from steadyllm.config import ConfigError, Settings, load_settings
from steadyllm.errors import GatewayError
from steadyllm.usage.report import DIMENSIONS, parse_query, render_csv, render_json

if TYPE_CHECKING:  # the store modules load SQLAlchemy: only the commands that run need it
    from steadyllm.keys.admin import KeyAdmin
    from steadyllm.keys.store import ApiKey
    from steadyllm.stores.sql.engine import Database

__all__ = ["keys", "usage"]

T = TypeVar("T")

_config_option = click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML config (its store.url holds the keys); default: the embedded default.",
)


def _settings(config: Path | None) -> Settings:
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if settings.store.url.startswith("memory"):
        raise click.ClickException(
            "store.url is memory://: keys and usage live only inside the running gateway; "
            "use its admin API (/api/keys, /api/usage)"
        )
    return settings


def _run(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    from steadyllm.stores.sql import open_database, upgrade_database

    async def main() -> T:
        database = open_database(settings.store.url)
        try:
            await upgrade_database(database)
            return await work(database)
        finally:
            await database.dispose()

    try:
        return asyncio.run(main())
    except (GatewayError, ConfigError) as exc:
        raise click.ClickException(getattr(exc, "message", str(exc))) from None


def _admin(settings: Settings, database: Database) -> KeyAdmin:
    from steadyllm.keys.admin import KeyAdmin
    from steadyllm.keys.store import SqlKeyStore

    return KeyAdmin(
        SqlKeyStore(database), settings.access, models=[m.name for m in settings.models]
    )


def _limit_options(function: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--rpm", type=int, help="Requests per minute (overrides the tier)."),
        click.option("--rph", type=int, help="Requests per hour."),
        click.option("--rpd", type=int, help="Requests per day."),
        click.option("--tpm", type=int, help="Tokens per minute."),
        click.option("--budget", type=float, help="USD per day for the key's user."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _limits(
    rpm: int | None, rph: int | None, rpd: int | None, tpm: int | None, budget: float | None
) -> dict[str, Any]:
    given = {
        "requests_per_minute": rpm,
        "requests_per_hour": rph,
        "requests_per_day": rpd,
        "tokens_per_minute": tpm,
        "budget_per_day": budget,
    }
    return {k: v for k, v in given.items() if v is not None}


def _show(key: ApiKey) -> str:
    models = ",".join(key.allowed_models) if key.allowed_models is not None else "*"
    state = "revoked" if key.revoked_at is not None else "active"
    limits = " ".join(f"{k}={v}" for k, v in key.limits.items()) or "-"
    return (
        f"{key.id}  {key.hint}  tenant={key.tenant} user={key.user or '-'} tier={key.tier} "
        f"models={models} limits: {limits}  {state}  {key.name}"
    )


@click.group()
def keys() -> None:
    """Virtual API keys: create, list, update, revoke."""


@keys.command("create")
@_config_option
@click.option("--name", default="", help="A label for people.")
@click.option("--tenant", default="default", show_default=True)
@click.option("--user", default=None, help="The user the key belongs to (budgets are per user).")
@click.option("--tier", default=None, help="Default: access.default_tier.")
@click.option(
    "--model", "models", multiple=True, help="A model the key may use (repeat); default all."
)
@_limit_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def create(
    config: Path | None,
    name: str,
    tenant: str,
    user: str | None,
    tier: str | None,
    models: tuple[str, ...],
    rpm: int | None,
    rph: int | None,
    rpd: int | None,
    tpm: int | None,
    budget: float | None,
    as_json: bool,
) -> None:
    """Create a key; its secret is printed once, here, and never again."""
    settings = _settings(config)
    spec: dict[str, Any] = {
        "name": name,
        "tenant": tenant,
        "user": user,
        "tier": tier,
        "allowed_models": list(models) if models else None,
        "limits": _limits(rpm, rph, rpd, tpm, budget),
    }
    key, secret = _run(settings, lambda db: _admin(settings, db).create(spec))
    if as_json:
        click.echo(orjson.dumps({**key.public(), "key": secret}).decode())
        return
    click.echo(_show(key))
    click.echo(f"key: {secret}")
    click.echo("Store it now: it is not shown again.", err=True)


@keys.command("list")
@_config_option
@click.option("--tenant", default=None)
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
@click.option("--json", "as_json", is_flag=True)
def list_keys(
    config: Path | None, tenant: str | None, include_revoked: bool, as_json: bool
) -> None:
    """List keys (never their secrets)."""
    settings = _settings(config)
    found = _run(
        settings,
        lambda db: _admin(settings, db).list(tenant=tenant, include_revoked=include_revoked),
    )
    if as_json:
        click.echo(orjson.dumps([k.public() for k in found]).decode())
        return
    for key in found:
        click.echo(_show(key))


@keys.command("update")
@_config_option
@click.argument("key_id")
@click.option("--name", default=None)
@click.option("--user", default=None)
@click.option("--tier", default=None)
@click.option("--model", "models", multiple=True, help="Replace the allowed models (repeat).")
@click.option("--all-models", is_flag=True, help="Allow every model.")
@_limit_options
@click.option("--clear-limits", is_flag=True, help="Drop the key's own limits: the tier's apply.")
def update(
    config: Path | None,
    key_id: str,
    name: str | None,
    user: str | None,
    tier: str | None,
    models: tuple[str, ...],
    all_models: bool,
    rpm: int | None,
    rph: int | None,
    rpd: int | None,
    tpm: int | None,
    budget: float | None,
    clear_limits: bool,
) -> None:
    """Change a key's name, user, tier, models or limits."""
    settings = _settings(config)
    changes: dict[str, Any] = {
        k: v for k, v in {"name": name, "user": user, "tier": tier}.items() if v is not None
    }
    if models and all_models:
        raise click.UsageError("--model and --all-models exclude each other")
    if models:
        changes["allowed_models"] = list(models)
    if all_models:
        changes["allowed_models"] = None
    limits = _limits(rpm, rph, rpd, tpm, budget)

    async def work(database: Database) -> ApiKey:
        admin = _admin(settings, database)
        if limits or clear_limits:
            current = {} if clear_limits else dict((await admin.get(key_id)).limits)
            changes["limits"] = {**current, **limits}
        return await admin.update(key_id, changes)

    click.echo(_show(_run(settings, work)))


@keys.command("revoke")
@_config_option
@click.argument("key_id")
def revoke(config: Path | None, key_id: str) -> None:
    """Revoke a key: every call with it gets 401 from then on."""
    settings = _settings(config)
    key = _run(settings, lambda db: _admin(settings, db).revoke(key_id))
    click.echo(_show(key))


@click.command()
@_config_option
@click.option(
    "--start", default=None, help="First day, YYYY-MM-DD (UTC); default 29 days before --end."
)
@click.option("--end", default=None, help="Last day, YYYY-MM-DD (UTC); default today.")
@click.option("--group-by", default="", help=f"Comma-separated: {', '.join(DIMENSIONS)}.")
@click.option("--where", "filters", multiple=True, help="A filter, DIMENSION=VALUE (repeat).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
def usage(
    config: Path | None,
    start: str | None,
    end: str | None,
    group_by: str,
    filters: tuple[str, ...],
    fmt: str,
) -> None:
    """Requests, tokens and cost over a date range, from the daily aggregates."""
    settings = _settings(config)
    params: dict[str, str] = {"group_by": group_by}
    if start:
        params["start"] = start
    if end:
        params["end"] = end
    for item in filters:
        name, sep, value = item.partition("=")
        if not sep or name not in DIMENSIONS:
            raise click.UsageError(f"--where takes DIMENSION=VALUE, one of {', '.join(DIMENSIONS)}")
        params[name] = value
    try:
        query = parse_query(params)
    except GatewayError as exc:
        raise click.UsageError(exc.message) from None
    from steadyllm.usage.store import SqlUsageStore

    rows = _run(settings, lambda db: SqlUsageStore(db).report(query))
    if fmt == "json":
        click.echo(orjson.dumps(render_json(query, rows), option=orjson.OPT_INDENT_2).decode())
        return
    if fmt == "csv":
        sys.stdout.write(render_csv(query, rows))
        return
    report = render_json(query, rows)
    columns = [*query.group_by, "requests", "errors", "input_tokens", "output_tokens", "cost_usd"]
    lines = [
        [str(row.get(c) if row.get(c) is not None else "-") for c in columns]
        for row in report["data"]
    ]
    total = report["totals"]
    lines.append(
        ["TOTAL"] * min(1, len(query.group_by))
        + [""] * max(0, len(query.group_by) - 1)
        + [str(total[c]) for c in columns[len(query.group_by) :]]
    )
    for line in lines:
        for index, column in enumerate(columns):
            if column == "cost_usd" and line[index] not in ("-", ""):
                line[index] = f"{float(line[index]):.6f}"
    widths = [max(len(c), *(len(line[i]) for line in lines)) for i, c in enumerate(columns)]
    click.echo(f"usage {query.start} .. {query.end} (UTC)")
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for line in lines:
        click.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)))
