"""Real service checks: under CI=true a missing server fails the test, elsewhere it skips.

``STEADYLLM_TEST_POSTGRES`` and ``STEADYLLM_TEST_REDIS`` point the tests at other
servers; the checks probe the host and port those URLs name.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

POSTGRES_URL = os.environ.get(
    "STEADYLLM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("STEADYLLM_TEST_REDIS", "redis://127.0.0.1:6379/0")


def require_server(name: str, problem: BaseException | None) -> None:
    """Fail under ``CI=true``, skip elsewhere, when the server ``name`` is unreachable.

    ``problem`` is what went wrong reaching it; ``None`` means it answered.
    """
    if problem is None:
        return
    message = f"{name} is not reachable: {type(problem).__name__}: {problem}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: tests that need it fail rather than skip)")
    pytest.skip(f"{message} (start it, or set CI=true to make this a failure)")


def require_service(name: str, host: str, port: int) -> None:
    """``require_server`` for a TCP listener at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError as exc:
        require_server(f"{name} at {host}:{port}", exc)


def _address(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def require_redis() -> str:
    """The test Redis URL, once its server answers."""
    require_service("Redis", *_address(REDIS_URL, 6379))
    return REDIS_URL


def require_postgres() -> str:
    """The test PostgreSQL URL (its admin database), once its server answers."""
    require_service("PostgreSQL", *_address(POSTGRES_URL, 5432))
    return POSTGRES_URL
