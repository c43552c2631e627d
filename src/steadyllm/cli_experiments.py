"""``steadyllm experiments list|create|results``: the experiments API from a terminal.

The commands talk to a running gateway (``--url``), because the running experiments
live in it: an experiment created there starts splitting traffic at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import click
import orjson

__all__ = ["experiments"]

_url = click.option(
    "--url", default="http://127.0.0.1:8080", show_default=True, help="The gateway."
)
_admin_key = click.option(
    "--admin-key", default=None, help="The gateway's admin key (server.admin_key)."
)


def _request(method: str, url: str, path: str, admin_key: str | None, body: Any = None) -> Any:
    async def send() -> Any:
        headers = {"authorization": f"Bearer {admin_key}"} if admin_key else {}
        timeout = aiohttp.ClientTimeout(total=60)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(
                method,
                url.rstrip("/") + path,
                headers=headers,
                data=None if body is None else orjson.dumps(body),
            ) as response,
        ):
            payload = orjson.loads(await response.read() or b"null")
            if response.status >= 400:
                message = payload.get("error", {}).get("message") if payload else None
                raise click.ClickException(f"{response.status}: {message or payload}")
            return payload

    try:
        return asyncio.run(send())
    except aiohttp.ClientError as exc:
        raise click.ClickException(f"cannot reach the gateway at {url}: {exc}") from None


def _echo(payload: Any) -> None:
    click.echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())


@click.group()
def experiments() -> None:
    """A/B experiments: create, list, read results (docs/EXPERIMENTS.md)."""


@experiments.command("list")
@_url
@_admin_key
def list_experiments(url: str, admin_key: str | None) -> None:
    """Every experiment, oldest first."""
    for item in _request("GET", url, "/api/experiments", admin_key)["experiments"]:
        arms = ", ".join(f"{a['variant']}:{a['weight']:g}" for a in item["arms"])
        click.echo(
            f"{item['id']}  {item['status']:8}  {item['route']:12}  {item['name']}  [{arms}]"
        )


@experiments.command("create")
@click.argument("name")
@click.option("--route", required=True, help="The model name whose traffic is split.")
@click.option(
    "--arm",
    "arms",
    multiple=True,
    required=True,
    help="VARIANT or VARIANT:WEIGHT; the first is the control. Repeat for each arm.",
)
@click.option("--subject", type=click.Choice(["conversation", "user"]), default="conversation")
@click.option("--outcome", default="booked", show_default=True)
@click.option("--alpha", type=float, default=0.05, show_default=True)
@_url
@_admin_key
def create(
    name: str,
    route: str,
    arms: tuple[str, ...],
    subject: str,
    outcome: str,
    alpha: float,
    url: str,
    admin_key: str | None,
) -> None:
    """Start an experiment NAME on --route."""
    parsed = []
    for arm in arms:
        variant, _, weight = arm.partition(":")
        try:
            parsed.append({"variant": variant, "weight": float(weight or 1)})
        except ValueError:
            raise click.BadParameter(f"bad weight in {arm!r}", param_hint="--arm") from None
    body = {
        "name": name,
        "route": route,
        "arms": parsed,
        "subject": subject,
        "outcome": outcome,
        "alpha": alpha,
    }
    _echo(_request("POST", url, "/api/experiments", admin_key, body))


@experiments.command("results")
@click.argument("experiment_id")
@click.option("--json", "as_json", is_flag=True, help="The whole result as JSON.")
@_url
@_admin_key
def results(experiment_id: str, as_json: bool, url: str, admin_key: str | None) -> None:
    """Results per arm of EXPERIMENT_ID."""
    payload = _request("GET", url, f"/api/experiments/{experiment_id}/results", admin_key)
    if as_json:
        _echo(payload)
        return
    for arm in payload["arms"]:
        line = (
            f"{arm['variant']:14} subjects={arm['subjects']:<6} "
            f"{arm['outcome']}={arm['rate']:.3f} errors={arm['errorRate']:.3f}"
        )
        versus = arm.get("vsControl")
        if versus is not None:
            low, high = versus["interval"]
            line += (
                f"  diff={versus['difference']:+.3f} [{low:+.3f}, {high:+.3f}]"
                f"  p(seq)={versus['sequentialPValue']:.4f}"
                f"{'  SIGNIFICANT' if versus['significant'] else ''}"
            )
        click.echo(line)
    srm = payload["sampleRatioMismatch"]
    click.echo(f"sample ratio p={srm['pValue']:.4f}{'  ALARM' if srm['alarm'] else ''}")
