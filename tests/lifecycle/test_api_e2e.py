"""The lifecycle API over HTTP, with the real gateway and the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from steadyllm.sim.generation import ECHO_SYSTEM_MARKER
from tests.gateway_thread import GatewayThread
from tests.lifecycle.helpers import sim_config

V1 = "You are the clinic's booking assistant.\nBe polite."
V2 = "You are the clinic's booking assistant.\nBe polite and brief.\nOffer two slots."


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayThread]:
    config: dict[str, Any] = sim_config(tmp_path, active_cache_seconds=0)
    config["models"][0]["deployments"][0]["price"] = {
        "input_per_million": 1.0,
        "output_per_million": 2.0,
    }
    # The test reads the system prompt back from the simulator's echo; the leak guard
    # would (rightly) withhold that answer, so it only flags here.
    config["safety"] = {"output": {"leak_action": "flag"}}
    config["variants"] = {
        "definitions": {"baseline": {"prompt": {"version_of": "baseline"}}},
        "routes": {"fast": "baseline"},
    }
    with GatewayThread(config) as handle:
        yield handle


def _system_prompt_seen(client: httpx.Client) -> str:
    """Ask for a reply that quotes the system prompt the upstream received."""
    body = {"model": "fast", "messages": [{"role": "user", "content": ECHO_SYSTEM_MARKER}]}
    reply = client.post("/v1/chat/completions", json=body)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["choices"][0]["message"]["content"])


def test_versions_rollback_and_diff_over_http(gateway: GatewayThread) -> None:
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        meta = {"description": "first", "createdBy": "ana", "changes": []}
        first = client.post(
            "/api/lifecycle/versions/register",
            json={"variant": "baseline", "systemPrompt": V1, "metadata": meta},
        )
        assert first.status_code == 201, first.text
        assert first.json()["version"]["isActive"] is True
        assert V1 in _system_prompt_seen(client)

        second = client.post(
            "/api/lifecycle/versions/register",
            json={"variant": "baseline", "systemPrompt": V2, "metadata": {"changes": ["brief"]}},
        )
        assert second.json()["version"]["version"] == 2
        activated = client.post(
            "/api/lifecycle/versions/activate", json={"variant": "baseline", "version": 2}
        )
        assert activated.json()["active"]["version"] == 2
        assert V2 in _system_prompt_seen(client)

        back = client.post("/api/lifecycle/versions/rollback", json={"variant": "baseline"})
        assert (back.json()["from"], back.json()["to"]) == (2, 1)
        seen = _system_prompt_seen(client)
        assert V1 in seen
        assert "Offer two slots." not in seen

        active = client.get("/api/lifecycle/versions/active", params={"variant": "baseline"})
        assert active.json()["active"]["version"] == 1
        diff = client.get(
            "/api/lifecycle/versions/diff", params={"variant": "baseline", "from": 1, "to": 2}
        ).json()
        assert diff["added"] == ["Be polite and brief.", "Offer two slots."]
        assert diff["removed"] == ["Be polite."]
        assert diff["lengthDifference"] == len(V2) - len(V1)
        tag = client.post(
            "/api/lifecycle/versions/tag",
            json={"variant": "baseline", "version": 1, "tag": "stable"},
        )
        assert tag.json()["version"]["tags"] == ["stable"]
        history = client.get("/api/lifecycle/versions/history", params={"variant": "baseline"})
        assert [h["version"] for h in history.json()["history"]] == [1, 2]
        listed = client.get("/api/lifecycle/versions/list").json()["variants"]
        assert listed == [{"variant": "baseline", "versions": 2, "activeVersion": 1}]
        missing = client.post(
            "/api/lifecycle/versions/activate", json={"variant": "baseline", "version": 7}
        )
        assert missing.status_code == 404
        bad = client.post("/api/lifecycle/versions/tag", json={"variant": "baseline"})
        assert bad.status_code == 400


def test_feedback_joins_the_call_and_feeds_compare_drift_and_status(
    gateway: GatewayThread,
) -> None:
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        client.post(
            "/api/lifecycle/versions/register", json={"variant": "baseline", "systemPrompt": V1}
        )
        body = {"model": "fast", "messages": [{"role": "user", "content": "Book Tuesday"}]}
        reply = client.post("/v1/chat/completions", json=body)
        request_id = reply.headers["x-request-id"]
        feedback = client.post(
            "/api/feedback",
            json={
                "requestId": request_id,
                "conversationId": "conv-1",
                "booked": True,
                "escalated": False,
                "action": "book_appointment",
                "rating": 5,
            },
        )
        assert feedback.status_code == 201, feedback.text
        joined = feedback.json()
        assert joined["variant"] == "baseline"
        assert joined["version"] == 1
        assert joined["costUsd"] > 0
        assert joined["latencyMs"] > 0
        wrong = client.post("/api/feedback", json={"requestId": "x", "action": "dance"})
        assert wrong.status_code == 400

        compare = client.get(
            "/api/lifecycle/versions/compare", params={"variant": "baseline"}
        ).json()
        assert compare["versions"]["1"]["conversations"] == 1
        assert compare["versions"]["1"]["bookingRate"] == 1.0

        detect = client.get("/api/lifecycle/drift/detect", params={"variant": "baseline"}).json()
        assert detect["driftDetected"] is False
        assert detect["metrics"]["insufficientData"] is True
        history = client.get("/api/lifecycle/drift/history", params={"variant": "baseline"})
        assert [d["id"] for d in history.json()["history"]] == [detect["id"]]
        metrics = client.get("/api/lifecycle/drift/metrics", params={"variant": "baseline"})
        assert metrics.json()["recent"]["conversations"] == 1

        check = client.post("/api/lifecycle/retraining/check", json={"variant": "baseline"})
        assert check.json()["shouldRetrain"] is False
        status = client.get("/api/lifecycle/status").json()
        assert status["versions"] == [{"variant": "baseline", "versions": 1, "activeVersion": 1}]
        assert status["drift"]["latest"]["baseline"]["driftDetected"] is False
        assert status["retraining"]["active"] == []
        sessions = client.get("/api/lifecycle/retraining/history").json()
        assert sessions["history"] == []


def test_a_manual_retraining_session_over_http_with_the_real_shadow_runner(
    gateway: GatewayThread,
) -> None:
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        client.post(
            "/api/lifecycle/versions/register", json={"variant": "baseline", "systemPrompt": V1}
        )
        for i in range(60):
            sent = client.post(
                "/api/feedback",
                json={
                    "conversationId": f"c{i}",
                    "variant": "baseline",
                    "booked": i % 3 != 0,
                    "text": None if i % 3 else "too expensive",
                },
            )
            assert sent.status_code == 201
        started = client.post("/api/lifecycle/retraining/start", json={"variant": "baseline"})
        assert started.status_code == 201, started.text
        session = started.json()["session"]
        assert session["status"] == "awaiting_finalize", session["reasons"]
        assert session["newVersion"] == 2
        assert session["state"]["analysis"]["patterns"]["pricing"]["count"] == 20
        assert session["state"]["shadow"]["started"]["shadowVariant"] == "baseline_v2"
        shadow = client.get("/api/reliability/shadow/status").json()
        assert shadow["active"] is True
        again = client.post("/api/lifecycle/retraining/start", json={"variant": "baseline"})
        assert again.status_code == 409  # one open session per variant

        done = client.post(
            "/api/lifecycle/retraining/finalize", json={"sessionId": session["id"]}
        ).json()["session"]
        assert done["status"] == "rolled_back"  # no shadow samples yet: the check fails
        assert done["reasons"]
        assert done["state"]["promotionCheck"]["shouldPromote"] is False
        active = client.get("/api/lifecycle/versions/active", params={"variant": "baseline"})
        assert active.json()["active"]["version"] == 1
        status = client.get(
            "/api/lifecycle/retraining/status", params={"sessionId": session["id"]}
        ).json()
        assert status["session"]["status"] == "rolled_back"
        overall = client.get("/api/lifecycle/status").json()
        assert overall["retraining"]["last"]["id"] == session["id"]
