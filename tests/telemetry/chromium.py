"""Headless Chromium driven over the DevTools protocol (aiohttp's WebSocket client).

Debian's ``chromium`` package; nothing is downloaded. ``Browser.open`` launches it
on a free debugging port with a throwaway profile; ``Page`` navigates, evaluates
JavaScript and takes screenshots.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, session_id: str) -> None:
        self._ws = ws
        self._session = session_id
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        await self._ws.send_json(
            {"id": message_id, "method": method, "params": params, "sessionId": self._session}
        )
        while True:
            reply = await self._ws.receive_json(timeout=30)
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                value = await self.evaluate(expression)
            except RuntimeError:  # the page is still loading (no document.body yet)
                value = None
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"never true: {expression}")
            await asyncio.sleep(0.1)

    async def screenshot(self, path: Path) -> None:
        result = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        await asyncio.to_thread(_write, path, base64.b64decode(result["data"]))


@contextlib.asynccontextmanager
async def open_page(url: str, *, width: int = 1440, height: int = 1100) -> AsyncIterator[Page]:
    binary = chromium_path()
    assert binary is not None, "chromium is not installed (apt-get install chromium)"
    profile = tempfile.mkdtemp(prefix="steadyllm-chromium-")
    process = subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
         "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(300):
            found = _devtools_address(profile)
            if found is not None:
                break
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError("chromium did not open its debugging port")
        port, browser_path = found
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"ws://127.0.0.1:{port}{browser_path}", max_msg_size=0) as ws,
        ):
            target = await _browser_call(ws, "Target.createTarget", url="about:blank")
            attached = await _browser_call(
                ws, "Target.attachToTarget", targetId=target["targetId"], flatten=True
            )
            page = Page(ws, attached["sessionId"])
            await page.send("Page.enable")
            await page.send(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
            await page.send("Page.navigate", url=url)
            yield page
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)


_browser_ids = itertools.count(1_000_000)


def _devtools_address(profile: str) -> tuple[str, str] | None:
    """Chromium writes its port and browser path here once it listens."""
    try:
        lines = Path(profile, "DevToolsActivePort").read_text().splitlines()
    except FileNotFoundError:
        return None
    return (lines[0], lines[1]) if len(lines) >= 2 else None


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def _browser_call(
    ws: aiohttp.ClientWebSocketResponse, method: str, **params: Any
) -> dict[str, Any]:
    message_id = next(_browser_ids)
    await ws.send_json({"id": message_id, "method": method, "params": params})
    while True:
        reply = await ws.receive_json(timeout=30)
        if reply.get("id") == message_id:
            if "error" in reply:
                raise RuntimeError(f"{method}: {reply['error']}")
            result: dict[str, Any] = reply["result"]
            return result
