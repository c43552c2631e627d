"""Bad input and bad upstreams get the right status and an OpenAI-shaped body; the
server keeps serving."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread
from tests.e2e.conftest import gateway_config
from tests.gateway_thread import GatewayThread

GOOD = {"model": "fast", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture(scope="module")
def small(sim: SimThread) -> Iterator[GatewayThread]:
    with GatewayThread(gateway_config(sim, max_body_bytes=2048, admin_key="admin-secret")) as gw:
        yield gw


def assert_openai_error(response: httpx.Response, status: int, param: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code", "param"}
    assert error["message"]
    if param is not None:
        assert error["param"] == param
    assert response.headers["x-request-id"]


def post(gw: GatewayThread, body: Any = None, content: bytes | None = None) -> httpx.Response:
    return httpx.post(
        f"{gw.base_url}/chat/completions",
        json=body if content is None else None,
        content=content,
        headers={"content-type": "application/json"},
    )


@pytest.mark.parametrize(
    ("content", "status", "param"),
    [
        (b"{not json", 400, None),
        (b"", 400, None),
        (b"\xff\xfe\x00", 400, None),
        (b"[1, 2]", 400, None),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', 400, "model"),
        (b'{"model": "nope", "messages": [{"role": "user", "content": "hi"}]}', 404, "model"),
        (b'{"model": "fast", "messages": "hi"}', 400, "messages"),
        (b'{"model": "fast", "messages": [{"role": "user", "content": "hi"}], "n": "2"}', 400, "n"),
        (b'{"model": "embed", "messages": [{"role": "user", "content": "hi"}]}', 400, "model"),
    ],
)
def test_bad_requests(small: GatewayThread, content: bytes, status: int, param: str | None) -> None:
    assert_openai_error(post(small, content=content), status, param)


def test_body_over_the_limit_is_413(small: GatewayThread) -> None:
    big = {"model": "fast", "messages": [{"role": "user", "content": "x" * 5000}]}
    assert_openai_error(post(small, big), 413)
    assert post(small, GOOD).status_code == 200


def test_unknown_route_and_method(small: GatewayThread) -> None:
    assert_openai_error(httpx.get(f"{small.base_url}/nothing-here"), 404)
    assert_openai_error(httpx.get(f"{small.base_url}/chat/completions"), 405)


def test_admin_routes_need_the_admin_key(small: GatewayThread) -> None:
    assert_openai_error(httpx.get(f"{small.url}/api/calls"), 401)
    wrong = httpx.get(f"{small.url}/api/calls", headers={"authorization": "Bearer nope"})
    assert_openai_error(wrong, 401)
    ok = httpx.get(f"{small.url}/api/calls", headers={"authorization": "Bearer admin-secret"})
    assert ok.status_code == 200
    assert httpx.get(f"{small.url}/health/live").status_code == 200  # probes stay open


def test_upstream_garbage_is_503_and_serving_goes_on() -> None:
    with SimThread(FaultPlan(malformed_rate=1.0)) as broken:
        config = gateway_config(broken)
        # Retried (quickly here), then no deployment could answer: 503 with Retry-After.
        config["resilience"] = {"retry": {"initial_delay": 0.01, "max_delay": 0.05}}
        with GatewayThread(config) as gw:
            assert_openai_error(post(gw, GOOD), 503)
            broken.set_faults(FaultPlan())
            assert post(gw, GOOD).status_code == 200


def test_upstream_client_errors_pass_through_with_their_status(sim: SimThread) -> None:
    config = gateway_config(sim)
    config["models"][0]["deployments"][0]["api_key"] = "sim-invalid-key"
    with GatewayThread(config) as gw:
        assert_openai_error(post(gw, GOOD), 401)
