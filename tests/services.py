"""Real service checks: under CI=true a missing server fails the test, elsewhere it skips."""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_URL = os.environ.get(
    "STEADYLLM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("STEADYLLM_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: tests that need it fail rather than skip)")
    pytest.skip(message)


def require_redis() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


def require_postgres() -> str:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL
