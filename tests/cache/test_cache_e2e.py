"""The cache end to end: SDKs -> gateway (real HTTP server) -> simulator.

The simulator's own counters (``sim.stats()``) show what reached the upstream.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from click.testing import CliRunner

from steadyllm.cli import main
from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread
from tests.gateway_thread import GatewayThread

PRICE = {"input_per_million": 0.5, "output_per_million": 1.5}


def config(sim: SimThread, **cache: Any) -> dict[str, Any]:
    return {
        "server": {"shutdown_timeout": 5},
        "store": {"url": "memory://"},
        "records": {"flush_interval": 0.05},
        "resilience": {"retry": {"max_retries": 0}},
        "cache": cache,
        "models": [
            {
                "name": "fast",
                "deployments": [
                    {
                        "provider": "openai",
                        "model": "sim-fast",
                        "api_base": sim.base_url,
                        "api_key": "sk-test",
                        "price": PRICE,
                        "timeout": {"read": 5, "total": 10, "first_token": 5},
                    }
                ],
            }
        ],
    }


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[SimThread]:
    with SimThread(FaultPlan()) as handle:
        yield handle


@pytest.fixture(scope="module")
def shared_gateway(shared_sim: SimThread) -> Iterator[GatewayThread]:
    with GatewayThread(config(shared_sim, serve_stale=True, stale_max_age=60)) as handle:
        yield handle


@pytest.fixture
def sim(shared_sim: SimThread, shared_gateway: GatewayThread) -> SimThread:
    """The shared simulator, with no faults and zeroed counters, behind an empty cache."""
    shared_sim.set_faults()
    shared_sim.reset()
    httpx.post(f"{shared_gateway.url}/api/reliability/cache/clear").raise_for_status()
    return shared_sim


@pytest.fixture
def gateway(sim: SimThread, shared_gateway: GatewayThread) -> GatewayThread:
    return shared_gateway


@pytest.fixture
def fresh_gateway(sim: SimThread) -> Iterator[GatewayThread]:
    """A gateway of its own, for tests that read its counters from zero."""
    with GatewayThread(config(sim)) as handle:
        yield handle


def client(gateway: GatewayThread, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0)


def upstream_calls(sim: SimThread) -> int:
    return int(sim.stats()["endpoints"].get("/v1/chat/completions", 0))


def ask(
    gateway: GatewayThread, question: str, key: str = "unused", **params: Any
) -> tuple[str, str | None]:
    """One chat call: the answer and the x-steadyllm-cache header."""
    params.setdefault("temperature", 0)
    raw = client(gateway, key).chat.completions.with_raw_response.create(
        model="fast", messages=[{"role": "user", "content": question}], **params
    )
    answer = raw.parse().choices[0].message.content or ""
    return answer, raw.headers.get("x-steadyllm-cache")


def test_an_exact_hit_never_reaches_the_upstream(sim: SimThread, gateway: GatewayThread) -> None:
    first, status = ask(gateway, "How much is a deep clean?")
    assert status == "miss"
    for _ in range(3):
        again, status = ask(gateway, "How much is a deep clean?")
        assert (again, status) == (first, "hit")
    assert upstream_calls(sim) == 1


def test_semantic_hit_says_so_with_its_similarity(sim: SimThread, gateway: GatewayThread) -> None:
    ask(gateway, "Can I book a deep cleaning for Friday?")
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="fast",
        temperature=0,
        messages=[{"role": "user", "content": "can i book a deep cleaning for friday"}],
    )
    assert raw.headers["x-steadyllm-cache"] == "semantic-hit"
    assert float(raw.headers["x-steadyllm-cache-similarity"]) == pytest.approx(1.0)
    _, status = ask(gateway, "Can I cancel a deep cleaning for Friday?")
    assert status == "miss"
    assert upstream_calls(sim) == 2


@pytest.mark.parametrize(
    "params",
    [
        {"temperature": 0.0, "max_tokens": 20},
        {"temperature": 0.0, "top_p": 0.5},
        {"temperature": 0.0, "seed": 42},
        {"temperature": 0.0, "stop": ["zzz"]},
        {"temperature": 0.0, "n": 2},
        {"temperature": 0.0, "response_format": {"type": "json_object"}},
        {"temperature": 0.0, "presence_penalty": 0.5},
        {
            "temperature": 0.0,
            "tools": [{"type": "function", "function": {"name": "book", "parameters": {}}}],
        },
        {"temperature": 0.0, "extra_body": {"provider_extra": True}},
    ],
)
def test_any_answer_changing_parameter_misses(
    sim: SimThread, gateway: GatewayThread, params: dict[str, Any]
) -> None:
    ask(gateway, "What are your prices?")
    _, status = ask(gateway, "What are your prices?", **params)
    assert status == "miss"
    assert upstream_calls(sim) == 2


def test_a_different_tenant_misses(sim: SimThread, gateway: GatewayThread) -> None:
    keys = {}
    for tenant in ("acme", "globex"):
        created = httpx.post(
            f"{gateway.url}/api/keys", json={"tenant": tenant, "tier": "premium"}
        ).json()
        keys[tenant] = created["key"]
    _acme, status = ask(gateway, "Is Tuesday free?", key=keys["acme"])
    assert status == "miss"
    _globex, status = ask(gateway, "Is Tuesday free?", key=keys["globex"])
    assert status == "miss"
    _, status = ask(gateway, "is tuesday free", key=keys["globex"])
    assert status == "semantic-hit"  # of globex's own entry
    _, status = ask(gateway, "Is Tuesday free?", key=keys["acme"])
    assert status == "hit"
    assert upstream_calls(sim) == 2


def test_streams_are_kept_and_replayed_either_way(sim: SimThread, gateway: GatewayThread) -> None:
    sdk = client(gateway)
    messages = [{"role": "user", "content": "Do you bring your own supplies?"}]

    def stream(**extra: Any) -> tuple[str, str | None, list[Any]]:
        raw = sdk.chat.completions.with_raw_response.create(
            model="fast", temperature=0, messages=messages, stream=True, **extra
        )
        chunks = list(raw.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return text, raw.headers.get("x-steadyllm-cache"), chunks

    streamed, status, _ = stream()
    assert status == "miss"
    replayed, status, chunks = stream()
    assert (replayed, status) == (streamed, "hit")
    assert all(c.usage is None for c in chunks)  # not asked for: not sent
    _, status, chunks = stream(stream_options={"include_usage": True})
    assert status == "hit"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens > 0
    plain, status = ask(gateway, "Do you bring your own supplies?")
    assert (plain, status) == (streamed, "hit")
    ask(gateway, "What does a deep clean include?")
    text, status, _ = stream_of(sdk, "What does a deep clean include?")
    assert status == "hit"
    assert text == ask(gateway, "What does a deep clean include?")[0]
    assert upstream_calls(sim) == 2


def stream_of(sdk: openai.OpenAI, question: str) -> tuple[str, str | None, None]:
    raw = sdk.chat.completions.with_raw_response.create(
        model="fast",
        temperature=0,
        messages=[{"role": "user", "content": question}],
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    return text, raw.headers.get("x-steadyllm-cache"), None


def test_cache_control_and_ttl_headers(sim: SimThread, gateway: GatewayThread) -> None:
    sdk = client(gateway)
    messages = [{"role": "user", "content": "How far in advance do I need to book?"}]

    def status(headers: dict[str, str]) -> str | None:
        raw = sdk.chat.completions.with_raw_response.create(
            model="fast", temperature=0, messages=messages, extra_headers=headers
        )
        return raw.headers.get("x-steadyllm-cache")

    assert status({"cache-control": "no-store"}) == "miss"
    assert status({}) == "miss"  # nothing was kept
    assert status({"cache-control": "no-cache"}) == "bypass"
    assert status({}) == "hit"
    assert status({"temperature": "0"}) == "hit"  # an unrelated header changes nothing
    assert upstream_calls(sim) == 3
    with pytest.raises(openai.BadRequestError):
        status({"x-steadyllm-cache-ttl": "soon"})


def test_stale_answer_when_the_upstream_is_down(sim: SimThread, gateway: GatewayThread) -> None:
    sdk = client(gateway)
    messages = [{"role": "user", "content": "What is your cancellation policy?"}]
    raw = sdk.chat.completions.with_raw_response.create(
        model="fast",
        temperature=0,
        messages=messages,
        extra_headers={"x-steadyllm-cache-ttl": "0.2"},
    )
    fresh = raw.parse().choices[0].message.content
    time.sleep(0.3)
    sim.set_faults(rate_503=1.0)
    raw = sdk.chat.completions.with_raw_response.create(
        model="fast", temperature=0, messages=messages
    )
    assert raw.headers["x-steadyllm-cache"] == "stale"
    assert raw.parse().choices[0].message.content == fresh
    with pytest.raises(openai.APIStatusError) as caught:
        ask(gateway, "A question never asked before")
    assert caught.value.status_code == 503


def test_stats_equal_the_calls_made_and_the_recorded_costs(
    sim: SimThread, fresh_gateway: GatewayThread
) -> None:
    gateway = fresh_gateway
    questions = ["What are your rates?", "Do you work on Sundays?", "Show my notes"]
    for question in questions:
        ask(gateway, question)  # 3 misses
    for _ in range(2):
        ask(gateway, questions[0])  # 2 hits
    ask(gateway, questions[1])  # 1 hit
    ask(gateway, "show my notes")  # 1 semantic hit
    ask(gateway, "Anything at all", temperature=1.0)  # bypass
    stats = httpx.get(f"{gateway.url}/api/reliability/cache/stats").json()
    records = httpx.get(f"{gateway.url}/api/calls", params={"flush": "true"}).json()["data"]
    # the calls whose answers were kept, in the order the questions were first asked
    originals = sorted(
        (r for r in records if r["cache_status"] == "miss"), key=lambda r: r["created_at"]
    )
    by_question = dict(zip(questions, originals, strict=True))
    overall = stats["overall"]
    assert (overall["hits"], overall["misses"]) == (4, 3)
    assert overall["hitRate"] == pytest.approx(4 / 7)
    assert overall["semanticHits"] == 1
    assert overall["bypasses"] == 1
    expected_cost = (
        2 * by_question[questions[0]]["cost_usd"]
        + by_question[questions[1]]["cost_usd"]
        + by_question[questions[2]]["cost_usd"]
    )
    assert overall["costSaved"] == pytest.approx(expected_cost, rel=1e-9)
    expected_time = (
        2 * by_question[questions[0]]["latency_ms"]
        + by_question[questions[1]]["latency_ms"]
        + by_question[questions[2]]["latency_ms"]
    )
    assert overall["timeSaved"] == pytest.approx(expected_time, rel=0.05, abs=3.0)
    hits = [r for r in records if r["cache_status"] in ("hit", "semantic-hit")]
    assert len(hits) == 4
    assert all(r["cost_usd"] == 0 and r["deployment"] is None for r in hits)
    top = {q["user_message"]: q for q in stats["topQueries"]}
    assert top[questions[0]]["hit_count"] == 2
    assert top[questions[0]]["cost_usd"] == pytest.approx(by_question[questions[0]]["cost_usd"])
    assert top[questions[1]]["hit_count"] == 1
    assert top[questions[2]]["hit_count"] == 1
    (row,) = stats["byVariant"]
    assert row["variant"] is None
    assert row["entries"] == 3
    assert row["total_hits"] == 4
    assert row["avg_cost_saved"] == pytest.approx(expected_cost / 3)
    assert upstream_calls(sim) == 4  # 3 misses and the bypass


def test_clear_and_clear_expired(sim: SimThread, gateway: GatewayThread) -> None:
    ask(gateway, "What are your working hours?")
    ask(gateway, "Is there a price list?", extra_headers={"x-steadyllm-cache-ttl": "0.05"})
    time.sleep(0.1)
    cleared = httpx.post(f"{gateway.url}/api/reliability/cache/clear-expired").json()
    assert cleared == {"success": True, "cleared": 1}
    assert ask(gateway, "What are your working hours?")[1] == "hit"
    response = httpx.post(f"{gateway.url}/api/reliability/cache/clear", json={"variant": "x"})
    assert response.json()["cleared"] == 0
    response = httpx.post(f"{gateway.url}/api/reliability/cache/clear")
    assert response.json() == {"success": True, "cleared": 1, "variant": None}
    assert ask(gateway, "What are your working hours?")[1] == "miss"
    bad = httpx.post(f"{gateway.url}/api/reliability/cache/clear", json={"tenant": "x"})
    assert bad.status_code == 400


def test_anthropic_clients_are_served_from_the_cache(
    sim: SimThread, gateway: GatewayThread
) -> None:
    import anthropic

    sdk = anthropic.Anthropic(base_url=gateway.url, api_key="unused", max_retries=0)
    texts = []
    for _ in range(2):
        raw = sdk.messages.with_raw_response.create(
            model="fast",
            max_tokens=100,
            messages=[{"role": "user", "content": "Do you accept credit cards?"}],
            extra_body={"temperature": 0},
        )
        texts.append((raw.parse().content[0].text, raw.headers.get("x-steadyllm-cache")))
    assert texts[0][0] == texts[1][0]
    assert [status for _, status in texts] == ["miss", "hit"]


def test_warm_fills_the_cache_through_the_gateway(
    sim: SimThread, gateway: GatewayThread, tmp_path: Path
) -> None:
    questions = tmp_path / "faq.txt"
    questions.write_text(
        "# frequent questions\nHow much is a deep clean?\n\nDo you work weekends?\n"
        '{"question": "Is there a cancellation fee?"}\n'
    )
    runner = CliRunner()
    result = runner.invoke(
        main, ["cache", "warm", str(questions), "--url", gateway.url, "--model", "fast"]
    )
    assert result.exit_code == 0, result.output
    assert "3 questions: 3 stored, 0 already cached" in result.output
    assert upstream_calls(sim) == 3
    for question in ("How much is a deep clean?", "Do you work weekends?"):
        assert ask(gateway, question)[1] == "hit"
    again = runner.invoke(
        main, ["cache", "warm", str(questions), "--url", gateway.url, "--model", "fast"]
    )
    assert "3 questions: 0 stored, 3 already cached" in again.output
    assert upstream_calls(sim) == 3
