"""Three ``steadyllm serve`` replicas behind a round-robin proxy act as one gateway.

They share one Redis (counters, breakers, cache L2, live variants) and one PostgreSQL
database (records, keys, prompt versions). Through the proxy (``cluster.py``), and so
whichever replica answers: a rate limit and a dollar budget hold exactly, an open
breaker fails every replica fast, an answer cached by one is a hit on the others, a
prompt version or live variant changed through one is used by all within a second,
and every answer has exactly one call record. The last test SIGKILLs a replica under
load (it stops the replica set, so it must stay last in this file).

The replica set is shared by the module (starting three processes takes seconds on a
busy machine); each test uses its own keys, model, prompt or messages.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from click.testing import CliRunner

from steadyllm.cli import main
from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread
from tests.limits.replicas import ReplicaSet, create_key, replica_set, write_config
from tests.resilience.cluster import (
    Answer,
    Attempt,
    RoundRobinProxy,
    call_records,
    post_all,
    retrying_load,
    shared_stores,
)
from tests.resilience.tally import Tally, record

PRICE = {"input_per_million": 1.0, "output_per_million": 2.0}
BODY = {"model": "fast", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
# "hi" is 4 prompt tokens, max_tokens 8 completion tokens: the price of one call.
ONE_CALL = (4 * PRICE["input_per_million"] + 8 * PRICE["output_per_million"]) / 1e6
UNLIMITED_RATES = ["--rpm", "100000", "--rph", "100000", "--rpd", "100000", "--tpm", "100000000"]
FLUSH_INTERVAL = 0.5  # the default of records.flush_interval: what a SIGKILL may lose
PROMPT_V1, PROMPT_V2, PROMPT_B = "You are agent one.", "You are agent two.", "You are variant B."


@dataclass
class Cluster:
    sim: SimThread
    fragile_sim: SimThread  # the upstream of the breaker test, alone so its counts are its own
    replicas: ReplicaSet
    proxy: RoundRobinProxy
    config: Path
    database: str
    redis_url: str
    prefix: str

    @property
    def chat_url(self) -> str:
        return f"{self.proxy.url}/v1/chat/completions"

    def upstream_requests(self, sim: SimThread | None = None) -> int:
        return int((sim or self.sim).stats()["requests"])

    def records(self, like: str = "%") -> dict[str, list[int]]:
        return call_records(self.database, like)


def deployment(sim: SimThread, name: str) -> dict[str, Any]:
    return {
        "provider": "openai",
        "model": "sim-fast",
        "name": name,
        "api_base": sim.base_url,
        "price": PRICE,
        "timeout": {"connect": 2, "read": 10, "total": 20, "first_token": 10},
    }


def cluster_config(
    sim: SimThread, fragile: SimThread, database: str, redis_url: str, prefix: str
) -> dict[str, Any]:
    return {
        "server": {"shutdown_timeout": 10},
        "store": {"url": database, "redis_url": redis_url, "redis_prefix": prefix},
        "records": {"flush_interval": FLUSH_INTERVAL},
        # A generous Redis timeout: a busy test machine must not look like a Redis
        # outage (which would fail open to per-replica limits).
        "access": {"counter_timeout": 10},
        "lifecycle": {"drift": {"check_interval_seconds": 0}},
        "models": [
            {"name": "fast", "deployments": [deployment(sim, "fast-sim")]},
            {"name": "versioned", "deployments": [deployment(sim, "versioned-sim")]},
            {"name": "fragile", "deployments": [deployment(fragile, "fragile-sim")]},
        ],
        "resilience": {
            "models": {
                "fragile": {
                    "retry": {"max_retries": 0},
                    "breaker": {"failure_threshold": 3, "recovery_timeout": 60},
                }
            }
        },
        "variants": {
            "definitions": {
                "agent": {"prompt": {"version_of": "agent"}},
                "agent_b": {"system_prompt": PROMPT_B},
            },
            "routes": {"versioned": "agent"},
        },
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp_path = tmp_path_factory.mktemp("replicas")
    with (
        shared_stores() as (database, redis_url, prefix),
        SimThread(FaultPlan(latency_ms=20)) as sim,
        SimThread() as fragile,
    ):
        path = write_config(tmp_path, cluster_config(sim, fragile, database, redis_url, prefix))
        migrated = CliRunner().invoke(main, ["migrate", "--config", str(path)])
        assert migrated.exit_code == 0, migrated.output
        with replica_set(path, 3, tmp_path) as replicas, RoundRobinProxy(replicas.urls) as proxy:
            yield Cluster(sim, fragile, replicas, proxy, path, database, redis_url, prefix)


def assert_limits_in_redis(cluster: Cluster) -> None:
    """Every replica kept its limits in Redis throughout (none failed over to local)."""
    for url in cluster.replicas.urls:
        status = httpx.get(f"{url}/api/limits/status").json()["limits"]
        assert (status["backend"], status["counter_failures"]) == ("redis", 0)


def by_replica(answers: list[Answer]) -> dict[int, int]:
    return dict(Counter(a.replica for a in answers))


# --- limits and budgets ---------------------------------------------------------------------


def test_a_per_minute_limit_of_12_holds_across_three_replicas(cluster: Cluster) -> None:
    key = create_key(
        cluster.config, "--rpm", "12", "--rph", "1000", "--rpd", "1000", "--tpm", "100000000"
    )
    before = cluster.upstream_requests()
    into_minute = time.time() % 60  # the sliding window is exact inside one minute
    if into_minute > 55:
        time.sleep(60.2 - into_minute)
    auth = {"authorization": f"Bearer {key['key']}"}
    answers = asyncio.run(post_all(cluster.chat_url, [BODY] * 36, headers=auth))
    assert_limits_in_redis(cluster)
    statuses = Counter(a.status for a in answers)
    assert statuses == {200: 12, 429: 24}
    assert by_replica(answers) == {0: 12, 1: 12, 2: 12}  # each replica took a third
    assert {a.body["error"]["code"] for a in answers if a.status == 429} == {"rate_limit_exceeded"}
    assert cluster.upstream_requests() - before == 12
    record(
        Tally(
            "replicas: rpm 12 over 3 replicas",
            sent=36,
            served=statuses[200],
            failed=statuses[429],
            notes={"refused_429": statuses[429], "by_replica": by_replica(answers)},
        )
    )


def test_a_budget_of_8_calls_serves_at_most_8_of_48_concurrent(cluster: Cluster) -> None:
    budget = 8.5 * ONE_CALL
    key = create_key(cluster.config, "--budget", repr(budget), *UNLIMITED_RATES)
    before = cluster.upstream_requests()
    auth = {"authorization": f"Bearer {key['key']}"}
    answers = asyncio.run(post_all(cluster.chat_url, [BODY] * 48, headers=auth))
    served = [a for a in answers if a.status == 200]
    refused = [a for a in answers if a.status != 200]
    assert 1 <= len(served) <= 8
    assert len(served) * ONE_CALL <= budget
    assert {a.status for a in refused} == {429}
    assert {a.body["error"]["code"] for a in refused} == {"budget_exceeded"}
    assert set(by_replica(answers)) == {0, 1, 2}
    assert cluster.upstream_requests() - before == len(served)  # refused: never upstream
    record(
        Tally(
            "replicas: $ budget of 8 calls, 48 at once",
            sent=48,
            served=len(served),
            failed=len(refused),
            notes={"refused_429": len(refused), "served_by": by_replica(served)},
        )
    )


# --- breakers -------------------------------------------------------------------------------


def test_a_breaker_opened_through_one_replica_fails_all_fast(cluster: Cluster) -> None:
    upstream = cluster.fragile_sim
    upstream.set_faults(rate_503=1.0)
    body = {**BODY, "model": "fragile"}
    with httpx.Client(base_url=cluster.proxy.url, timeout=30) as client:
        # Three consecutive failures, one on each replica, open the shared breaker.
        failing = [client.post("/v1/chat/completions", json=body) for _ in range(3)]
        assert upstream.stats()["requests"] == 3
        fast = [client.post("/v1/chat/completions", json=body) for _ in range(9)]
    assert {int(a.headers["x-proxy-replica"]) for a in failing} == {0, 1, 2}
    assert {a.status_code for a in failing} == {503}
    assert {int(a.headers["x-proxy-replica"]) for a in fast} == {0, 1, 2}
    assert {a.status_code for a in fast} == {503}
    assert {a.json()["error"]["code"] for a in fast} == {"no_deployment_available"}
    assert {a.headers["x-steadyllm-fallback"] for a in fast} == {"fragile-sim (breaker_open)"}
    assert all(int(a.headers["retry-after"]) >= 1 for a in fast)
    assert upstream.stats()["requests"] == 3  # no replica called the failing upstream again
    for url in cluster.replicas.urls:
        breakers = httpx.get(f"{url}/api/reliability/metrics").json()["circuitBreakers"]
        assert breakers["fragile-sim"]["state"] == "OPEN"
    record(
        Tally(
            "replicas: breaker shared, 3 fail then 9",
            sent=12,
            served=0,
            failed=12,
            notes={"upstream_calls": 3, "fast_503": len(fast)},
        )
    )


# --- cache ----------------------------------------------------------------------------------


def test_an_answer_cached_by_one_replica_is_a_hit_on_the_others(cluster: Cluster) -> None:
    body = {
        "model": "fast",
        "temperature": 0,
        "messages": [{"role": "user", "content": f"Which rooms are free on day {uuid.uuid4()}?"}],
    }
    entries = f"{cluster.prefix}*cache*:entry:*"  # one key per cached answer
    client = redis.Redis.from_url(cluster.redis_url)
    before_upstream = cluster.upstream_requests()
    try:
        before = len(list(client.scan_iter(match=entries, count=1000)))
        with httpx.Client(base_url=cluster.proxy.url, timeout=30) as http:
            first = http.post("/v1/chat/completions", json=body)
            # L2 is written behind the response: wait (bounded) until it is in Redis.
            deadline = time.monotonic() + 10
            while len(list(client.scan_iter(match=entries, count=1000))) == before:
                assert time.monotonic() < deadline, "the answer never reached the Redis cache"
                time.sleep(0.02)
            others = [http.post("/v1/chat/completions", json=body) for _ in range(2)]
    finally:
        client.close()
    assert first.status_code == 200
    assert first.headers["x-steadyllm-cache"] == "miss"
    origin = int(first.headers["x-proxy-replica"])
    assert {int(a.headers["x-proxy-replica"]) for a in others} == {0, 1, 2} - {origin}
    assert [a.headers["x-steadyllm-cache"] for a in others] == ["hit", "hit"]
    assert all(a.json()["choices"] == first.json()["choices"] for a in others)
    assert cluster.upstream_requests() - before_upstream == 1  # answered upstream once
    record(
        Tally(
            "replicas: cache L2 shared",
            sent=3,
            served=3,
            notes={"upstream_calls": 1, "hits_on_other_replicas": 2},
        )
    )


def test_a_stream_passes_through_the_proxy_as_it_is_written(cluster: Cluster) -> None:
    body = {**BODY, "stream": True, "max_tokens": 6}
    with (
        httpx.Client(base_url=cluster.proxy.url, timeout=30) as http,
        http.stream("POST", "/v1/chat/completions", json=body) as answer,
    ):
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        events = [line for line in answer.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    assert len(events) >= 7  # one chunk per token, then the end


# --- prompt versions and the live variant ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    replica: int
    sent: float  # time.monotonic() when the request left the client
    prompt: str | None  # the system prompt the replica sent upstream


def probe(cluster: Cluster, http: httpx.Client) -> Probe:
    """One call to the ``versioned`` route: which replica took it, and with what prompt."""
    marker = f"probe {uuid.uuid4().hex}"
    sent = time.monotonic()
    answer = http.post(
        "/v1/chat/completions",
        json={"model": "versioned", "messages": [{"role": "user", "content": marker}]},
    )
    assert answer.status_code == 200, answer.text
    seen = httpx.get(f"{cluster.sim.url}/sim/requests").json()["requests"]
    for entry in reversed(seen):
        messages = entry["body"].get("messages") or []
        if messages and messages[-1].get("content") == marker:
            system = [m["content"] for m in messages if m.get("role") == "system"]
            return Probe(int(answer.headers["x-proxy-replica"]), sent, (system or [None])[0])
    raise AssertionError(f"{marker!r} never reached the upstream")


def propagation(
    cluster: Cluster, http: httpx.Client, changed_at: float, expected: str
) -> tuple[float, int]:
    """Probe every replica until each has served a probe sent more than a second after
    the change; all of those must use ``expected``.

    A replica may keep the old prompt for ``active_cache_seconds`` (1 s) after the
    change, not longer. Returns how long after the change the last stale probe was sent
    (0 if none was stale), and the number of probes.
    """
    probes: list[Probe] = []
    deadline = changed_at + 10
    while True:
        probes.append(probe(cluster, http))
        late = [p for p in probes if p.sent >= changed_at + 1.0]
        if {p.replica for p in late} == {0, 1, 2}:
            break
        assert time.monotonic() < deadline, f"replicas never all served a probe: {probes}"
        time.sleep(0.05)
    stale = [p for p in late if p.prompt != expected]
    assert not stale, f"a replica used an old prompt more than 1 s after the change: {stale}"
    assert {p.replica for p in probes if p.prompt == expected} == {0, 1, 2}
    last_stale = max((p.sent - changed_at for p in probes if p.prompt != expected), default=0.0)
    return last_stale, len(probes)


def test_versions_and_the_live_variant_changed_on_one_replica_reach_all(cluster: Cluster) -> None:
    api = "/api/lifecycle/versions"
    with httpx.Client(base_url=cluster.proxy.url, timeout=30) as http:
        for prompt in (PROMPT_V1, PROMPT_V2):
            registered = http.post(
                f"{api}/register", json={"variant": "agent", "systemPrompt": prompt}
            )
            assert registered.status_code == 201, registered.text
        warm = [probe(cluster, http) for _ in range(3)]  # every replica caches version 1
        assert {(p.replica, p.prompt) for p in warm} == {(r, PROMPT_V1) for r in (0, 1, 2)}

        activated = http.post(f"{api}/activate", json={"variant": "agent", "version": 2})
        assert activated.status_code == 200, activated.text
        stale = {"activate": propagation(cluster, http, time.monotonic(), PROMPT_V2)}

        rolled = http.post(f"{api}/rollback", json={"variant": "agent"})
        assert (rolled.status_code, rolled.json()["from"], rolled.json()["to"]) == (200, 2, 1)
        stale["rollback"] = propagation(cluster, http, time.monotonic(), PROMPT_V1)

        # The live variant of a route: a shadow test promoted through one replica.
        started = http.post(
            "/api/reliability/shadow/start",
            json={"shadowVariant": "agent_b", "primaryVariant": "agent", "routes": ["versioned"]},
        )
        assert started.status_code == 200, started.text
        promoted = http.post("/api/reliability/shadow/promote")
        assert promoted.json()["live"]["versioned"] == "agent_b", promoted.text
        stale["promote"] = propagation(cluster, http, time.monotonic(), PROMPT_B)
        undone = http.post("/api/reliability/shadow/rollback")
        assert undone.json()["live"]["versioned"] == "agent", undone.text
        stale["undo"] = propagation(cluster, http, time.monotonic(), PROMPT_V1)
    probes = 3 + sum(n for _, n in stale.values())
    record(
        Tally(
            "replicas: versions + live variant",
            sent=probes,
            served=probes,
            notes={f"{change}_last_stale_s": round(s, 2) for change, (s, _) in stale.items()},
        )
    )


# --- records --------------------------------------------------------------------------------


def test_every_answer_through_the_proxy_has_exactly_one_record(cluster: Cluster) -> None:
    """Whatever the tests above sent (or a burst of its own when run alone)."""
    answers = asyncio.run(post_all(cluster.chat_url, [BODY] * 30, concurrency=10))
    assert {a.status for a in answers} == {200}
    for url in cluster.replicas.urls:  # write what each replica still buffers
        assert httpx.get(f"{url}/api/calls", params={"flush": "true", "limit": 1}).is_success
    hops = [hop for hop in cluster.proxy.ledger if hop.request_id is not None]
    sent = Counter(hop.request_id for hop in hops)
    assert max(sent.values()) == 1  # every request got an id of its own
    stored = cluster.records()
    # A shadow test started above may still copy answered requests to its candidate:
    # those calls have records of their own, "<request id>-shadow", each of an answer.
    shadows = {rid for rid in stored if rid.endswith("-shadow")}
    assert {rid.removesuffix("-shadow") for rid in shadows} <= set(sent)
    stored = {rid: statuses for rid, statuses in stored.items() if rid not in shadows}
    missing = [hop for hop in hops if hop.request_id not in stored]
    duplicated = {rid: statuses for rid, statuses in stored.items() if len(statuses) > 1}
    unknown = set(stored) - set(sent)
    assert (missing, duplicated, unknown) == ([], {}, set())
    assert all(stored[str(hop.request_id)] == [hop.status] for hop in hops)
    record(
        Tally(
            "replicas: one record per answer",
            sent=len(hops),
            served=sum(1 for hop in hops if hop.status == 200),
            failed=sum(1 for hop in hops if hop.status != 200),
            records_lost=len(missing),
            notes={"records": sum(len(s) for s in stored.values()), "duplicates": 0},
        )
    )


# --- SIGKILL (last: it ends the replica set) ------------------------------------------------


def test_a_replica_killed_mid_load_loses_no_request_and_at_most_its_unflushed_records(
    cluster: Cluster,
) -> None:
    victim, kill_after, seconds = 1, 1.5, 4.0
    id_prefix = f"kill-{uuid.uuid4().hex[:8]}-"
    killed_at: list[float] = []

    async def load_and_kill() -> list[list[Attempt]]:
        async def kill() -> None:
            await asyncio.sleep(kill_after)
            killed_at.append(time.monotonic())
            await asyncio.to_thread(cluster.replicas.kill, victim)

        load = retrying_load(
            cluster.chat_url, BODY, seconds=seconds, concurrency=8, id_prefix=id_prefix
        )
        requests, _ = await asyncio.gather(load, kill())
        return requests

    requests = asyncio.run(load_and_kill())
    # Once its fail_timeout is over the proxy tries the dead replica again: the refused
    # connection never delivered the request, so the proxy sends it to the next one.
    cluster.proxy.forget_failures()
    after = asyncio.run(post_all(cluster.chat_url, [BODY] * 3))
    assert [a.status for a in after] == [200, 200, 200]
    assert victim not in {a.replica for a in after}
    assert cluster.proxy.connect_retries >= 1
    codes = cluster.replicas.stop()  # the survivors drain and flush on SIGTERM
    assert codes[victim] == -9
    assert [c for i, c in enumerate(codes) if i != victim] == [0, 0]

    # Every request the clients sent was answered in the end.
    assert all(attempts[-1].status == 200 for attempts in requests)
    attempts = {a.request_id: a for attempts in requests for a in attempts}
    failed = [a for a in attempts.values() if a.status != 200]
    # Only requests in flight on the victim failed: 502 from the proxy, or (if the proxy
    # had begun to relay the answer) a body cut short.
    assert all(a.status in (502, None) and a.replica == victim for a in failed)

    stored = cluster.records(f"{id_prefix}%")
    assert set(stored) <= set(attempts)
    assert {rid: s for rid, s in stored.items() if len(s) > 1} == {}  # no duplicate ids
    answered = {rid for rid, a in attempts.items() if a.status == 200}
    lost = answered - set(stored)
    orphans = set(stored) - answered  # a record, but the client got no answer
    assert all(attempts[rid] in failed for rid in orphans)  # in flight on the victim

    # A SIGKILL loses the victim's unwritten buffer: answers of the last flush interval
    # (plus the time a batch takes to write) before the kill, and nothing else.
    answered_at = {hop.request_id: hop.at for hop in cluster.proxy.ledger}
    assert all(attempts[rid].replica == victim for rid in lost)
    ages = [killed_at[0] - answered_at[rid] for rid in lost]
    assert all(age < FLUSH_INTERVAL + 2.0 for age in ages), ages
    by_victim = [a for a in attempts.values() if a.replica == victim and a.status == 200]
    assert by_victim  # the victim was serving when it was killed
    last_answer = killed_at[0] - max(answered_at[a.request_id] for a in by_victim)
    recent = [a for a in by_victim if killed_at[0] - answered_at[a.request_id] < FLUSH_INTERVAL]
    record(
        Tally(
            "replicas: SIGKILL one of 3 mid-load",
            sent=len(requests),
            served=sum(1 for attempts in requests if attempts[-1].status == 200),
            failed=sum(1 for attempts in requests if attempts[-1].status != 200),
            records_lost=len(lost),
            notes={
                "attempts": len(attempts),
                "retried": sum(1 for attempts in requests if len(attempts) > 1),
                "in_flight_on_victim": len(failed),
                "orphan_records": len(orphans),
                "victim_answered": len(by_victim),
                "proxy_connect_retries": cluster.proxy.connect_retries,
                "oldest_lost_s": round(max(ages, default=0.0), 2),
                "victim_answers_in_last_flush_interval": len(recent),
                "victim_last_answer_s_before_kill": round(last_answer, 3),
            },
        )
    )
