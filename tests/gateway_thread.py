"""A real gateway server on a free loopback port, in a thread with its own event loop.

Sync SDK clients can call it without blocking the test's loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from steadyllm.config import Settings, load_settings
from steadyllm.server.run import serve


class GatewayThread:
    def __init__(self, config: Mapping[str, Any] | Settings) -> None:
        self.settings = load_settings(config)
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="gateway", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(port: int) -> None:
                self.port = port
                self._ready.set()

            await serve(self.settings, host="127.0.0.1", port=0, on_ready=ready, stop=self._stop)

        try:
            asyncio.run(main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def __enter__(self) -> GatewayThread:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("gateway did not start within 30 s")
        if self._error is not None:
            raise RuntimeError("gateway failed to start") from self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
