"""The dashboard in real headless Chromium (Debian's package), and its access rules."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import httpx
import pytest

from steadyllm.sim.server import SimThread
from tests.gateway_thread import GatewayThread
from tests.telemetry.chromium import chromium_path, open_page
from tests.telemetry.conftest import telemetry_config

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "dashboard.png"


def screenshot_path(tmp_path: Path) -> Path:
    """Where the screenshot goes: the docs' copy only when asked to refresh it
    (``STEADYLLM_UPDATE_SCREENSHOTS=1``), so an ordinary run leaves the tree clean."""
    if os.environ.get("STEADYLLM_UPDATE_SCREENSHOTS") == "1":
        return DOCS_SCREENSHOT
    return tmp_path / "dashboard.png"


def _need_chromium() -> None:
    if chromium_path() is None:
        message = "chromium is not installed (scripts/test installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _traffic(gateway: GatewayThread, sim: SimThread) -> int:
    """Answered, failed and streamed calls; returns how many requests were sent."""
    sent = 0
    with httpx.Client(base_url=gateway.base_url, timeout=30) as client:
        for i in range(12):
            body = {
                "model": "fast",
                "messages": [{"role": "user", "content": f"Is slot {i} free?"}],
            }
            assert client.post("/chat/completions", json=body).status_code == 200
            sent += 1
        for _ in range(3):
            missing = {"model": "nope", "messages": [{"role": "user", "content": "hi"}]}
            assert client.post("/chat/completions", json=missing).status_code == 404
            sent += 1
        stream = {
            "model": "fast",
            "stream": True,
            "messages": [{"role": "user", "content": "Tell me about deep cleaning"}],
        }
        with client.stream("POST", "/chat/completions", json=stream) as response:
            assert response.status_code == 200
            response.read()
        sent += 1
    return sent


async def test_dashboard_renders_live_numbers_in_chromium(sim: SimThread, tmp_path: Path) -> None:
    shot = screenshot_path(tmp_path)
    _need_chromium()
    with GatewayThread(telemetry_config(sim.base_url)) as gateway:
        sent = _traffic(gateway, sim)
        async with open_page(f"{gateway.url}/dashboard") as page:
            await page.wait_for("document.body.dataset.ready === '1'")
            await page.wait_for("document.querySelectorAll('#checks tr').length > 1")
            text = await page.evaluate(
                "Object.fromEntries([...document.querySelectorAll('.kpi b, #health')]"
                ".map(e => [e.id, e.textContent]))"
            )
            assert text["kpi-requests"] == str(sent)
            assert text["kpi-errors"] == "0.0%"  # 404s are the client's errors, not failures
            assert text["kpi-cost"].startswith("$")
            assert text["kpi-cost"] != "$0.0000"
            p50, p95, p99 = text["kpi-latency"].split(" / ")
            assert all(v.endswith("ms") or v.endswith(" s") for v in (p50, p95, p99))
            assert text["health"] == "healthy"
            bars = await page.evaluate("document.querySelectorAll('#chart-traffic rect').length")
            assert bars >= 1
            models = await page.evaluate(
                "[...document.querySelectorAll('#models tr')].slice(1)"
                ".map(r => [...r.cells].map(c => c.textContent))"
            )
            assert models[0][:2] == ["fast", "13"]  # 12 answers and one stream
            assert models[1][:2] == ["unknown", "3"]
            for panel in ("shadow", "experiments", "drift"):
                shown = await page.evaluate(f"document.getElementById('{panel}').textContent")
                assert "not configured" in shown
            await page.screenshot(shot)
    assert shot.stat().st_size > 20_000


def test_dashboard_and_metrics_need_the_admin_key(sim: SimThread) -> None:
    config = telemetry_config(sim.base_url)
    config["server"]["admin_key"] = "adm-key"
    with GatewayThread(config) as gateway:
        page = httpx.get(f"{gateway.url}/dashboard")
        assert page.status_code == 401
        assert page.headers["www-authenticate"] == 'Basic realm="steadyllm"'
        basic = base64.b64encode(b"anyone:adm-key").decode()
        page = httpx.get(f"{gateway.url}/dashboard", headers={"authorization": f"Basic {basic}"})
        assert page.status_code == 200
        assert "steadyllm dashboard" in page.text
        wrong = base64.b64encode(b"anyone:nope").decode()
        assert (
            httpx.get(
                f"{gateway.url}/api/dashboard", headers={"authorization": f"Basic {wrong}"}
            ).status_code
            == 401
        )
        assert httpx.get(f"{gateway.url}/metrics").status_code == 401
        bearer = {"authorization": "Bearer adm-key"}
        assert httpx.get(f"{gateway.url}/metrics", headers=bearer).status_code == 200
        assert httpx.get(f"{gateway.url}/health/ready").status_code == 200  # probes stay open

    config["telemetry"] = {"metrics": {"public": True}}
    with GatewayThread(config) as gateway:
        assert httpx.get(f"{gateway.url}/metrics").status_code == 200
        assert httpx.get(f"{gateway.url}/api/dashboard").status_code == 401
