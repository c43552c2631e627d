"""Structured logs: one JSON object per line, and one line per request.

The request line (logger ``steadyllm.requests``, level INFO; WARNING for a 5xx or
a cut stream) carries the request id, tenant, model, deployment, variant, tokens,
cost, latency and outcome — from the call record, which holds no secret. Prompts
and answers are added only with ``telemetry.logs.include_content``. Whatever the
format, :class:`JsonFormatter` masks anything shaped like a credential (bearer
tokens, ``sk-...`` keys, ``api_key=...``) in every line it writes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson

from steadyllm.call import Call, Response
from steadyllm.stores.base import CallRecord
from steadyllm.telemetry.metrics import is_failure

__all__ = [
    "JsonFormatter",
    "RequestLog",
    "close_chunks",
    "gather_answer",
    "install_json_logs",
    "redact",
]

REQUEST_LOGGER = "steadyllm.requests"
_SECRETS = re.compile(
    r"(?i)((?:(?:api[_-]?key|authorization|x-api-key|secret|password)[\"']?\s*[:=]\s*[\"']?)?"
    r"(?:bearer\s+|basic\s+)|(?:api[_-]?key|authorization|x-api-key|secret|password)[\"']?\s*[:=]\s*[\"']?)"
    r"[^\s\"',;}]+"
    r"|\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{6,}"
)
# Attributes every LogRecord has; anything else was passed in ``extra``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def redact(text: str) -> str:
    """``text`` with credentials replaced by ``[REDACTED]``."""
    return _SECRETS.sub(lambda m: f"{m.group(1) or ''}[REDACTED]", text)


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", ...extra}`` on one line, secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        line = orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        return redact(line)


def install_json_logs() -> None:
    """Give every handler of the root logger the JSON formatter (one is added if none)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())


class RequestLog:
    """Writes the request line; built only when ``telemetry.logs.requests`` is on."""

    def __init__(self, *, include_content: bool) -> None:
        self._log = logging.getLogger(REQUEST_LOGGER)
        self._include_content = include_content

    def write(self, call: Call, response: Response | None, record: CallRecord) -> None:
        failed = is_failure(record)
        level = logging.WARNING if failed else logging.INFO
        if not self._log.isEnabledFor(level):
            return
        outcome = "ok" if record.error_type is None else record.error_type
        fields: dict[str, Any] = {
            "request_id": record.request_id,
            "tenant": record.tenant,
            "model": record.model,
            "deployment": record.deployment,
            "variant": record.variant,
            "status": record.status,
            "outcome": outcome,
            "input_tokens": record.input_tokens,
            "output_tokens": record.output_tokens,
            "cost_usd": record.cost_usd,
            "latency_ms": round(record.latency_ms, 3),
            "ttft_ms": None if record.ttft_ms is None else round(record.ttft_ms, 3),
            "overhead_ms": round(record.overhead_ms, 3),
            "attempts": record.attempts,
            "cache": record.cache_status,
            "stream": record.stream,
        }
        if self._include_content:
            fields["prompt"] = call.body.get("messages", call.body.get("input"))
            fields["answer"] = _answer(call, response)
        self._log.log(
            level,
            "%s %s %s %d %.1fms",
            record.request_id,
            record.model,
            outcome,
            record.status,
            record.latency_ms,
            extra=fields,
        )


def _answer(call: Call, response: Response | None) -> str | None:
    parts = call.notes.get("telemetry_answer")
    if isinstance(parts, list):  # a stream: pieces gathered as the chunks went by
        return "".join(parts)
    if response is None or response.body is None:
        return None
    texts = [
        str((choice.get("message") or {}).get("content") or "")
        for choice in response.body.get("choices") or ()
        if isinstance(choice, dict)
    ]
    return "\n".join(texts) if texts else None


def gather_answer(call: Call, response: Response) -> None:
    """For content logging of streams: keep each chunk's text in ``call.notes``."""
    chunks = response.chunks
    if chunks is None:
        return
    parts: list[str] = []
    call.notes["telemetry_answer"] = parts

    async def watch() -> AsyncIterator[dict[str, Any]]:
        try:
            async for chunk in chunks:
                for choice in chunk.get("choices") or ():
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        parts.append(content)
                yield chunk
        finally:
            await close_chunks(chunks)

    response.chunks = watch()


async def close_chunks(chunks: AsyncIterator[dict[str, Any]]) -> None:
    """Close a wrapped stream now, so its own ``finally`` (the call record) runs."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
