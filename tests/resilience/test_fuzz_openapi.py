"""Every operation of ``/openapi.json`` fuzzed by schemathesis against a live gateway.

Positive cases (bodies and parameters the document allows) and negative ones (what it
forbids), a bounded number of each per operation, derandomized so CI runs the same
cases every time (``STEADYLLM_FUZZ_SEED`` / ``STEADYLLM_FUZZ_EXAMPLES`` explore more,
``STEADYLLM_FUZZ_ONLY=/v1/`` keeps the operations under a path prefix).
Asserted: no 5xx anywhere (schemathesis' ``not_a_server_error``), every 4xx in the
error shape, every served data-plane call in the call records, and the gateway still
ready and serving afterwards.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error

from steadyllm.sim.faults import FaultPlan
from steadyllm.sim.server import SimThread
from tests.gateway_thread import GatewayThread
from tests.resilience.edge_gateway import ADMIN, CHAT_MODELS, EMBEDDING_MODELS, edge_config
from tests.resilience.tally import Tally, record

EXAMPLES = int(os.environ.get("STEADYLLM_FUZZ_EXAMPLES", "6"))  # per operation and mode
SEED = os.environ.get("STEADYLLM_FUZZ_SEED")
ONLY = os.environ.get("STEADYLLM_FUZZ_ONLY", "/")  # a path prefix, to dig into some routes
SMALL = 3  # members of a generated array or free-form object
DATA_PLANE = ("/v1/chat/completions", "/v1/embeddings", "/v1/messages")
OPENAI_ERROR_KEYS = {"message", "type", "param", "code"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    """Records, keys, outcomes and versions in SQLite (a file), so generated strings go
    through SQL too; ``STEADYLLM_FUZZ_STORE`` names another store (a PostgreSQL URL)."""
    store = os.environ.get("STEADYLLM_FUZZ_STORE") or (
        f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'steadyllm.db'}"
    )
    with SimThread(FaultPlan()) as sim:
        config = {**edge_config(sim), "store": {"url": store}}
        with GatewayThread(config) as handle:
            yield handle


def error_shape_problem(path: str, body: Any) -> str | None:
    """What is wrong with a refusal's body, or None when it is in the documented shape."""
    if path.startswith("/v1/messages"):
        ok = (
            isinstance(body, dict)
            and body.get("type") == "error"
            and isinstance(body.get("error"), dict)
            and isinstance(body["error"].get("type"), str)
            and isinstance(body["error"].get("message"), str)
        )
        return None if ok else f"not an Anthropic error: {body!r}"[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or set(error) != OPENAI_ERROR_KEYS:
        return f"not an OpenAI error: {body!r}"[:300]
    if not isinstance(error["message"], str) or not isinstance(error["type"], str):
        return f"message and type must be strings: {body!r}"[:300]
    return None


def _small(schema: Any) -> None:
    """Cap every array and object of a schema at a few members, in place: generating
    big free-form JSON costs far more time than sending it, and size is the edge suite's."""
    if isinstance(schema, dict):
        if schema.get("type") == "array":
            schema["maxItems"] = min(schema.get("maxItems", SMALL), SMALL)
        if schema.get("type") == "object":
            schema.setdefault("maxProperties", SMALL + 4)
        for value in schema.values():
            _small(value)
    elif isinstance(schema, list):
        for value in schema:
            _small(value)


def _for_fuzzing(spec: dict[str, Any]) -> dict[str, Any]:
    """Small bodies; positive data-plane cases name configured models, so they reach the
    pipeline (negative ones still send any model)."""
    _small(spec["paths"])
    names = {
        "/v1/chat/completions": list(CHAT_MODELS),
        "/v1/messages": list(CHAT_MODELS),
        "/v1/embeddings": list(EMBEDDING_MODELS),
    }
    for path, models in names.items():
        schema = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        schema["schema"]["properties"]["model"] = {"enum": models}
    return spec


@dataclass
class Run:
    url: str
    session: requests.Session
    statuses: Counter[int] = field(default_factory=Counter)
    by_operation: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    served_request_ids: list[str] = field(default_factory=list)

    def exercise(self, case: Case) -> None:
        label = f"{case.method} {case.path}"
        headers = {} if case.path.startswith("/v1/") else dict(ADMIN)
        try:
            response = case.call(
                base_url=self.url, session=self.session, headers=headers, timeout=30
            )
        except requests.RequestException as exc:  # the gateway dropped the connection
            self.problems.append(f"{label}: no answer ({exc!r}); {case.as_curl_command()}")
            return
        status = response.status_code
        self.statuses[status] += 1
        self.by_operation[label] += 1
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except (AssertionError, BaseExceptionGroup) as exc:  # schemathesis' failures: a 5xx
            self.problems.append(f"{label}: {exc}\n{case.as_curl_command()}"[:2000])
            return
        if 400 <= status < 500:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            problem = error_shape_problem(case.path, body)
            if problem:
                self.problems.append(f"{label} -> {status}: {problem}")
        elif status < 300 and case.path in DATA_PLANE:
            self.served_request_ids.append(response.headers["x-request-id"][0])


def test_every_operation_fuzzed_without_a_server_error(gateway: GatewayThread) -> None:
    raw = httpx.get(f"{gateway.url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(_for_fuzzing(raw))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(item) for item in raw["paths"].values())
    operations = [o for o in operations if o.path.startswith(ONLY)]
    run = Run(gateway.url, requests.Session())

    for operation in operations:
        raw_operation = raw["paths"][operation.path][operation.method.lower()]
        negatable = "requestBody" in raw_operation or any(
            p["in"] == "query" for p in raw_operation.get("parameters", ())
        )
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if negatable else [])
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=SEED is None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: Case) -> None:
                run.exercise(case)

            if SEED is not None:
                fuzz = seed(int(SEED))(fuzz)
            fuzz()
    run.session.close()

    sent = sum(run.statuses.values())
    served = sum(n for status, n in run.statuses.items() if status < 300)
    refused = sum(n for status, n in run.statuses.items() if 400 <= status < 500)
    assert run.problems == [], "\n\n".join(run.problems[:20])
    assert set(run.by_operation) == {f"{o.method.upper()} {o.path}" for o in operations}

    # Every served data-plane call left its record (flush=true writes the pending batch).
    calls = httpx.get(
        f"{gateway.url}/api/calls",
        params={"flush": "true", "limit": "10000"},
        headers=ADMIN,
        timeout=30,
    )
    assert calls.status_code == 200
    recorded = {r["request_id"] for r in calls.json()["data"]}
    lost = [rid for rid in run.served_request_ids if rid not in recorded]
    assert lost == []

    ready = httpx.get(f"{gateway.url}/health/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    chat = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": "fast", "messages": [{"role": "user", "content": "still there?"}]},
        timeout=30,
    )
    assert chat.status_code == 200, chat.text
    record(
        Tally(
            "fuzz: schemathesis, every operation",
            sent=sent,
            served=served,
            failed=refused,
            records_lost=len(lost),
            notes={
                "operations": len(operations),
                "statuses": dict(sorted(run.statuses.items())),
                "data_plane_served": len(run.served_request_ids),
            },
        )
    )
    assert served > 0
    assert refused > 0
    assert sent == served + refused + sum(n for s, n in run.statuses.items() if 300 <= s < 400)
