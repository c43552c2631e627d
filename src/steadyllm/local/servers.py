"""Health and model lists of local OpenAI-compatible servers: llama.cpp, Ollama, vLLM.

They are called through the ``openai`` provider; this module adds what that does
not: which server it is, whether it is up (or still loading its model), and which
models it serves. Three small GETs, in parallel, each with a short timeout::

    {root}/health        llama.cpp: {"status": "ok"} (503 while loading); vLLM: 200
    {root}/api/version   Ollama: {"version": ...}
    {api_base}/models    every one of them: the OpenAI model list
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

__all__ = ["ServerHealth", "is_local_address", "probe_server"]

_LOCAL_SUFFIXES = (".local", ".internal", ".lan", ".svc", ".cluster.local")


def is_local_address(api_base: str) -> bool:
    """True for loopback, private addresses and in-cluster names (``ollama``, ``*.svc``)."""
    host = urlsplit(api_base).hostname or ""
    if host == "localhost" or "." not in host:
        return bool(host)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host.endswith(_LOCAL_SUFFIXES)
    return address.is_loopback or address.is_private or address.is_link_local


@dataclass(frozen=True, slots=True)
class ServerHealth:
    api_base: str
    server: str  # "llama.cpp", "ollama", "vllm", "openai-compatible", "unknown"
    status: str  # "ok", "loading", "unreachable", "error"
    models: tuple[str, ...]
    latency_ms: float
    detail: str | None = None

    @property
    def healthy(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "api_base": self.api_base,
            "server": self.server,
            "status": self.status,
            "healthy": self.healthy,
            "models": list(self.models),
            "latency_ms": round(self.latency_ms, 3),
            "detail": self.detail,
        }


async def _get(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> tuple[int, Any] | BaseException:
    try:
        async with session.get(url, headers=headers) as response:
            raw = await response.read()
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return exc
    try:
        return response.status, orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return response.status, raw.decode("utf-8", "replace")[:200]


async def probe_server(
    api_base: str, *, api_key: str | None = None, timeout: float = 2.0
) -> ServerHealth:
    """What answers at ``api_base`` (ending in ``/v1``), and whether it is ready."""
    base = api_base.rstrip("/")
    root = base[: -len("/v1")] if base.endswith("/v1") else base
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    started = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        health, version, models = await asyncio.gather(
            _get(session, f"{root}/health", headers),
            _get(session, f"{root}/api/version", headers),
            _get(session, f"{base}/models", headers),
        )
    latency_ms = (time.perf_counter() - started) * 1000
    server = _server_kind(health, version)
    if isinstance(models, BaseException):
        status = "unreachable" if isinstance(health, BaseException) else "error"
        detail = f"GET {base}/models failed: {type(models).__name__}: {models}".strip(": ")
        return ServerHealth(api_base, server, status, (), latency_ms, detail)
    names = _model_names(models[1])
    if not isinstance(health, BaseException) and health[0] == 503:
        return ServerHealth(api_base, server, "loading", names, latency_ms, _message(health[1]))
    if models[0] != 200:
        detail = f"GET {base}/models answered {models[0]}: {_message(models[1])}"
        return ServerHealth(api_base, server, "error", names, latency_ms, detail)
    return ServerHealth(api_base, server, "ok", names, latency_ms)


def _server_kind(health: tuple[int, Any] | BaseException, version: Any) -> str:
    if (
        not isinstance(version, BaseException)
        and version[0] == 200
        and isinstance(version[1], dict)
        and "version" in version[1]
    ):
        return "ollama"
    if isinstance(health, BaseException):
        return "unknown"
    status, body = health
    if isinstance(body, dict) and ("status" in body or "slots_idle" in body):
        return "llama.cpp"
    if status == 503 and "loading" in _message(body).lower():
        return "llama.cpp"
    if status == 200 and body in (None, ""):
        return "vllm"
    return "openai-compatible"


def _model_names(body: Any) -> tuple[str, ...]:
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, list):
        return tuple(str(m["id"]) for m in data if isinstance(m, dict) and "id" in m)
    models = body.get("models") if isinstance(body, dict) else None  # llama.cpp adds this too
    if isinstance(models, list):
        return tuple(str(m.get("name") or m.get("model")) for m in models if isinstance(m, dict))
    return ()


def _message(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message", error))
        if error is not None:
            return str(error)
        return str(body.get("status", body))
    return str(body or "")
