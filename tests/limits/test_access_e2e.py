"""Keys, limits, cost and usage through the real gateway and the simulator, over HTTP."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from steadyllm import Gateway
from steadyllm.errors import AuthenticationFailed, GatewayError
from steadyllm.sim.server import SimThread
from tests.e2e.conftest import PRICE, gateway_config
from tests.gateway_thread import GatewayThread

ADMIN = "admin-secret"
HELLO = [{"role": "user", "content": "Book a deep clean on Friday"}]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimThread]:
    with SimThread() as handle:
        yield handle


@pytest.fixture(scope="module")
def gateway(sim: SimThread) -> Iterator[GatewayThread]:
    config: dict[str, Any] = gateway_config(sim, admin_key=ADMIN)
    config["access"] = {"require_keys": True, "key_cache_seconds": 60}
    with GatewayThread(config) as handle:
        yield handle


@pytest.fixture
def admin(gateway: GatewayThread) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=gateway.url, headers={"authorization": f"Bearer {ADMIN}"}, timeout=10
    ) as client:
        yield client


def new_key(admin: httpx.Client, **spec: Any) -> dict[str, Any]:
    response = admin.post("/api/keys", json=spec)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def upstream_requests(sim: SimThread) -> int:
    return int(httpx.get(f"{sim.url}/sim/stats").json()["requests"])


def chat(
    gateway: GatewayThread, key: str | None, model: str = "fast", **body: Any
) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key is not None else {}
    payload = {"model": model, "messages": HELLO, **body}
    return httpx.post(
        f"{gateway.base_url}/chat/completions", json=payload, headers=headers, timeout=10
    )


def test_missing_unknown_and_revoked_keys_get_401_and_never_reach_upstream(
    gateway: GatewayThread, sim: SimThread, admin: httpx.Client
) -> None:
    key = new_key(admin, user="ana")
    assert chat(gateway, key["key"]).status_code == 200
    revoked = admin.delete(f"/api/keys/{key['id']}")
    assert revoked.json()["revoked"] is True
    before = upstream_requests(sim)
    cases = {
        "missing": None,
        "unknown": "sk-steady-" + "x" * 43,
        "not ours": "sk-test",
        "revoked": key["key"],
    }
    for case, token in cases.items():
        response = chat(gateway, token)
        assert response.status_code == 401, case
        assert response.json()["error"]["type"] == "authentication_error"
    assert chat(gateway, key["key"]).json()["error"]["code"] == "revoked_api_key"
    assert upstream_requests(sim) == before


def test_a_model_the_key_may_not_use_is_403(
    gateway: GatewayThread, sim: SimThread, admin: httpx.Client
) -> None:
    key = new_key(admin, allowed_models=["fast"])
    before = upstream_requests(sim)
    response = chat(gateway, key["key"], model="claude")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "model_not_allowed"
    assert upstream_requests(sim) == before
    assert chat(gateway, key["key"], model="fast").status_code == 200


def test_keys_are_shown_once_and_listed_without_secrets(admin: httpx.Client) -> None:
    key = new_key(admin, name="listing", tenant="acme", tier="premium")
    listed = admin.get("/api/keys", params={"tenant": "acme"}).json()["data"]
    assert [k["id"] for k in listed] == [key["id"]]
    assert "key" not in listed[0]
    assert "key_hash" not in listed[0]
    assert key["key"] not in admin.get("/api/keys").text
    assert listed[0]["hint"].endswith(key["key"][-4:])
    updated = admin.patch(f"/api/keys/{key['id']}", json={"tier": "free"}).json()
    assert updated["tier"] == "free"
    assert admin.post("/api/keys", json={"tier": "gold"}).status_code == 400
    assert admin.get("/api/keys/key_nope").status_code == 404
    assert httpx.get(f"{admin.base_url}/api/keys").status_code == 401  # no admin key


def test_a_rate_limit_is_a_429_with_retry_after_and_headers(
    gateway: GatewayThread, sim: SimThread, admin: httpx.Client
) -> None:
    key = new_key(admin, limits={"requests_per_minute": 3})
    before = upstream_requests(sim)
    answers = [chat(gateway, key["key"]) for _ in range(5)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in answers[:3]] == ["2", "1", "0"]
    assert answers[0].headers["x-ratelimit-limit"] == "3"
    refused = answers[3]
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert int(refused.headers["x-ratelimit-reset"]) >= 1
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert upstream_requests(sim) == before + 3


def test_streams_settle_their_token_reservation_when_they_end(
    gateway: GatewayThread, admin: httpx.Client
) -> None:
    # Each stream reserves about 1,030 tokens (1,024 expected out); it uses ~40. Without
    # settling, the second stream would not fit in 1,500 tokens a minute.
    key = new_key(admin, limits={"tokens_per_minute": 1500})
    client = openai.OpenAI(base_url=gateway.base_url, api_key=key["key"], max_retries=0)
    for _ in range(3):
        stream = client.chat.completions.create(model="fast", messages=HELLO, stream=True)  # type: ignore[arg-type]
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_the_anthropic_sdk_sends_its_key_as_x_api_key(
    gateway: GatewayThread, admin: httpx.Client
) -> None:
    key = new_key(admin)
    client = anthropic.Anthropic(base_url=gateway.url, api_key=key["key"], max_retries=0)
    reply = client.messages.create(model="fast", max_tokens=50, messages=HELLO)  # type: ignore[arg-type]
    assert reply.content
    bad = anthropic.Anthropic(base_url=gateway.url, api_key="sk-steady-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.create(model="fast", max_tokens=50, messages=HELLO)  # type: ignore[arg-type]


def test_each_cost_is_tokens_times_price_and_reports_add_up(
    gateway: GatewayThread, admin: httpx.Client
) -> None:
    key = new_key(admin, tenant="reports", user="rita")
    client = openai.OpenAI(base_url=gateway.base_url, api_key=key["key"], max_retries=0)
    for index in range(6):
        client.chat.completions.create(
            model="fast",
            messages=[{"role": "user", "content": f"question {index}"}],  # type: ignore[list-item]
            metadata={"project_id": f"p{index % 2}", "agent_type": "booking"},
        )
    chat(gateway, "sk-steady-bad")  # a 401 in the default tenant: not in this report
    calls = admin.get(
        "/api/calls", params={"tenant": "reports", "flush": "true", "limit": 1000}
    ).json()["data"]
    assert len(calls) == 6
    for record in calls:
        expected = (
            record["input_tokens"] * PRICE["input_per_million"]
            + record["output_tokens"] * PRICE["output_per_million"]
        ) / 1e6
        assert record["cost_usd"] == pytest.approx(expected, rel=1e-12)
        assert record["key_id"] == key["id"]

    report = admin.get(
        "/api/usage", params={"tenant": "reports", "group_by": "key,project_id"}
    ).json()
    assert [(r["key"], r["project_id"], r["requests"]) for r in report["data"]] == [
        (key["id"], "p0", 3),
        (key["id"], "p1", 3),
    ]
    totals = report["totals"]
    assert totals["requests"] == len(calls)
    assert totals["input_tokens"] == sum(r["input_tokens"] for r in calls)
    assert totals["output_tokens"] == sum(r["output_tokens"] for r in calls)
    assert totals["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in calls))

    text = admin.get(
        "/api/usage", params={"tenant": "reports", "group_by": "agent_type", "format": "csv"}
    )
    assert text.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text.text)))
    assert [(r["agent_type"], int(r["requests"])) for r in rows] == [("booking", 6)]
    assert float(rows[0]["cost_usd"]) == pytest.approx(totals["cost_usd"])


def test_limits_status_and_health(gateway: GatewayThread, admin: httpx.Client) -> None:
    status = admin.get("/api/limits/status").json()
    assert status["require_keys"] is True
    assert status["limits"]["backend"] == "memory"
    assert status["pricing"]["unpriced_calls"] == 0
    health = httpx.get(f"{gateway.url}/health/limits")
    assert (health.status_code, health.json()["status"]) == (200, "ok")


async def test_the_quick_start_answers_without_keys_but_checks_ours() -> None:
    async with Gateway.from_config({"store": {"url": "memory://"}}) as gw:
        assert await gw.chat(HELLO, model="fast")
        placeholder = gw.new_call(
            "chat", {"model": "fast", "messages": HELLO}, headers={"authorization": "Bearer unused"}
        )
        assert (await gw.handle(placeholder)).body is not None
        ours = gw.new_call(
            "chat",
            {"model": "fast", "messages": HELLO},
            headers={"authorization": "Bearer sk-steady-nope"},
        )
        with pytest.raises(AuthenticationFailed):
            await gw.handle(ours)
        key, secret = await gw.access.admin.create(
            {"user": "ana", "limits": {"requests_per_minute": 1}}
        )
        keyed = gw.new_call(
            "chat", {"model": "fast", "messages": HELLO}, headers={"x-api-key": secret}
        )
        await gw.handle(keyed)
        assert keyed.principal.key_id == key.id
        assert keyed.response_headers["x-ratelimit-remaining"] == "0"


async def test_a_failed_call_gives_its_reservation_back() -> None:
    from tests.limits.replicas import free_port

    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: every attempt fails
    price = {"input_per_million": 10.0, "output_per_million": 10.0}
    config = {
        "store": {"url": "memory://"},
        "access": {"anonymous": {"budget_per_day": 0.002, "tokens_per_minute": 200}},
        "resilience": {"retry": {"max_retries": 0}},
        "models": [
            {
                "name": "down",
                "deployments": [
                    {"provider": "openai", "model": "x", "api_base": dead, "price": price}
                ],
            }
        ],
    }
    body = {"model": "down", "messages": HELLO, "max_tokens": 100}  # 113 tokens, $0.00113
    async with Gateway.from_config(config) as gw:
        for _ in range(3):  # each would use up the budget and tokens if not given back
            with pytest.raises(GatewayError) as failed:
                await gw.handle(gw.new_call("chat", dict(body)))
            assert failed.value.http_status in (502, 503, 504)
        assert gw.access.limiter.status()["refusals"] == []
