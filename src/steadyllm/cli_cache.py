"""``steadyllm cache warm FILE``: pre-populate the response cache through a running gateway.

Each question goes through ``POST /v1/chat/completions`` like any client call, so
it is keyed, checked and stored exactly as the application's own calls will be.
FILE holds one question per line (blank lines and ``#`` comments skipped), or JSON
lines: ``{"question": "..."}`` or a whole chat body (``{"messages": [...], ...}``).
``--model``, ``--system`` and ``--param`` fill in what a line leaves out; they must
match what the application sends, or its calls will not find the warmed answers.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import orjson

__all__ = ["cache"]


@dataclass
class _Tally:
    outcomes: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def _param(values: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in values:
        name, separator, raw = item.partition("=")
        if not separator or not name:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--param")
        try:
            params[name] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            params[name] = raw
    return params


def read_questions(
    path: Path, *, model: str | None, system: str | None, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """The chat bodies to send, one per question in ``path``."""
    bodies = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("{"):
            try:
                item = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise click.ClickException(f"{path} line {number}: not JSON: {exc}") from None
            if not isinstance(item, dict):
                raise click.ClickException(f"{path} line {number}: expected a JSON object")
        else:
            item = {"question": text}
        body: dict[str, Any] = {**params, **{k: v for k, v in item.items() if k != "question"}}
        if "messages" not in body:
            question = item.get("question")
            if not isinstance(question, str) or not question.strip():
                raise click.ClickException(f"{path} line {number}: no question and no messages")
            messages = [{"role": "system", "content": system}] if system else []
            body["messages"] = [*messages, {"role": "user", "content": question}]
        body.setdefault("temperature", 0)
        if model is not None:
            body.setdefault("model", model)
        if "model" not in body:
            raise click.ClickException(f"{path} line {number}: no model (use --model)")
        body.pop("stream", None)
        bodies.append(body)
    return bodies


async def _warm(
    url: str,
    bodies: list[dict[str, Any]],
    headers: dict[str, str],
    concurrency: int,
    timeout: float,
    tally: _Tally,
    advance: Any,
) -> None:
    import aiohttp

    endpoint = url.rstrip("/") + "/v1/chat/completions"
    slots = asyncio.Semaphore(concurrency)
    limits = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=limits, headers=headers) as session:

        async def one(body: dict[str, Any]) -> None:
            async with slots:
                try:
                    async with session.post(endpoint, data=orjson.dumps(body)) as response:
                        payload = await response.read()
                        if response.status != 200:
                            tally.add("failed")
                            message = payload.decode(errors="replace")[:200]
                            tally.failures.append(f"HTTP {response.status}: {message}")
                        else:
                            tally.add(response.headers.get("x-steadyllm-cache", "unknown"))
                except (aiohttp.ClientError, TimeoutError) as exc:
                    tally.add("failed")
                    tally.failures.append(f"{type(exc).__name__}: {exc}")
                advance(1)

        await asyncio.gather(*(one(body) for body in bodies))


@click.group()
def cache() -> None:
    """The response cache."""


@cache.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--url", default="http://127.0.0.1:8080", show_default=True, help="The gateway.")
@click.option("--model", default=None, help="Model for lines that name none.")
@click.option("--system", default=None, help="System prompt put before each question.")
@click.option(
    "--param",
    "param",
    multiple=True,
    help="Request parameter KEY=VALUE (VALUE as JSON when it parses), e.g. max_tokens=200.",
)
@click.option("--api-key", default=None, help="Virtual key, sent as 'Authorization: Bearer'.")
@click.option("--ttl", type=float, default=None, help="Seconds to keep each answer.")
@click.option("--refresh", is_flag=True, help="Ask again even when an answer is cached.")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64))
@click.option("--timeout", default=120.0, show_default=True, type=float)
def warm(
    file: Path,
    url: str,
    model: str | None,
    system: str | None,
    param: tuple[str, ...],
    api_key: str | None,
    ttl: float | None,
    refresh: bool,
    concurrency: int,
    timeout: float,
) -> None:
    """Pre-populate answers for the questions in FILE, through the gateway at --url."""
    bodies = read_questions(file, model=model, system=system, params=_param(param))
    headers = {"content-type": "application/json"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    if ttl is not None:
        headers["x-steadyllm-cache-ttl"] = repr(ttl)
    if refresh:
        headers["cache-control"] = "no-cache"
    tally = _Tally()
    with click.progressbar(length=len(bodies), label="warming", show_pos=True) as bar:
        asyncio.run(_warm(url, bodies, headers, concurrency, timeout, tally, bar.update))
    got = tally.outcomes
    stored = got.get("miss", 0) + (got.get("bypass", 0) if refresh else 0)
    click.echo(
        f"{len(bodies)} questions: {stored} stored, "
        f"{got.get('hit', 0) + got.get('semantic-hit', 0)} already cached, "
        f"{0 if refresh else got.get('bypass', 0)} not cacheable, {got.get('failed', 0)} failed"
    )
    if got.get("bypass", 0) and not refresh:
        click.echo(
            "some questions were not cacheable: check temperature (cache.max_temperature) "
            "and that the cache is enabled for the model",
            err=True,
        )
    for failure in tally.failures[:5]:
        click.echo(f"  {failure}", err=True)
    if got.get("failed", 0):
        raise SystemExit(1)
