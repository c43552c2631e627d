"""The HTTP edge: one aiohttp application around one :class:`Gateway`."""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from steadyllm.errors import (
    AuthenticationFailed,
    GatewayError,
    InternalError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    ServiceUnavailable,
)
from steadyllm.gateway import Gateway
from steadyllm.server.cache_api import CacheApi
from steadyllm.server.catalog_api import CatalogApi
from steadyllm.server.control import ControlPlane
from steadyllm.server.dashboard import DashboardApi
from steadyllm.server.data_plane import DataPlane, request_id_of
from steadyllm.server.edge_input import hang_up, read_body
from steadyllm.server.experiments_api import ExperimentsApi
from steadyllm.server.health_api import HealthApi
from steadyllm.server.keys_api import KeysApi
from steadyllm.server.lifecycle_api import LifecycleApi
from steadyllm.server.metrics_api import MetricsApi
from steadyllm.server.openapi import OpenApiDoc
from steadyllm.server.reliability_api import ReliabilityMetricsApi
from steadyllm.server.runtime_api import RuntimeApi
from steadyllm.server.safety_api import SafetyApi
from steadyllm.server.shadow_api import ShadowApi
from steadyllm.server.slo_api import SloApi
from steadyllm.server.usage_api import UsageApi

__all__ = ["GATEWAY", "INFLIGHT", "InFlight", "create_app"]

log = logging.getLogger("steadyllm.server")

_ADMIN_PREFIXES = ("/api/", "/dashboard", "/metrics")


class InFlight:
    """Counts requests being handled, so shutdown can wait for them."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


GATEWAY = web.AppKey("gateway", Gateway)
INFLIGHT = web.AppKey("inflight", InFlight)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _render(request: web.Request, error: GatewayError) -> web.Response:
    anthropic = request.path.startswith("/v1/messages")
    body = error.to_anthropic() if anthropic else error.to_openai()
    headers = {"x-request-id": request_id_of(request), **error.headers}
    return web.Response(
        status=error.http_status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def _from_http(exc: web.HTTPException, max_body_bytes: int) -> GatewayError:
    """aiohttp's own refusals (no route, wrong method, body too large) in our shape."""
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return PayloadTooLarge(
            f"The request body is larger than the limit of {max_body_bytes} bytes."
        )
    if exc.status == 404:
        return NotFound(f"No route for this path: {exc.reason}.", code="route_not_found")
    if exc.status == 405:
        return InvalidRequest(f"Method not allowed: {exc.reason}.", code="method_not_allowed")
    return InvalidRequest(exc.text or exc.reason, code=f"http_{exc.status}")


# Answered even when the process is at server.max_in_flight: the orchestrator must
# see a busy gateway as alive, and metrics must show why it refuses.
_ALWAYS_ANSWERED = ("/health/", "/metrics")


def _overloaded(limit: int) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"The gateway is handling its limit of {limit} requests at once; retry shortly.",
        retry_after=1,
        code="overloaded",
    )


def create_app(gateway: Gateway) -> web.Application:
    settings = gateway.settings.server
    admin_key = settings.admin_key.get_secret_value() if settings.admin_key else None
    inflight = InFlight()
    admin_prefixes: tuple[str, ...] = _ADMIN_PREFIXES
    if gateway.settings.telemetry.metrics.public:  # Prometheus scrapes without credentials
        admin_prefixes = tuple(p for p in _ADMIN_PREFIXES if p != "/metrics")

    max_in_flight = settings.max_in_flight

    @web.middleware
    async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (
            max_in_flight is not None
            and inflight.count >= max_in_flight
            and not request.path.startswith(_ALWAYS_ANSWERED)
        ):
            return _render(request, _overloaded(max_in_flight))
        inflight.enter()
        try:
            if admin_key is not None and request.path.startswith(admin_prefixes):
                _check_admin(request, admin_key)
            if request.body_exists:
                await read_body(request, settings.max_body_bytes, settings.body_read_timeout)
            return await handler(request)
        except RequestTimeout as exc:
            return await hang_up(request, _render(request, exc))
        except GatewayError as exc:
            return _render(request, exc)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            error = _from_http(exc, settings.max_body_bytes)
            response = _render(request, error)
            response.set_status(exc.status)
            return response
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            return _render(
                request, InternalError("The server had an error processing your request.")
            )
        finally:
            inflight.leave()

    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[edge])
    app[GATEWAY] = gateway
    app[INFLIGHT] = inflight
    app.add_routes(DataPlane(gateway).routes())
    app.add_routes(ControlPlane(gateway).routes())
    app.add_routes(SafetyApi(gateway).routes())
    app.add_routes(CatalogApi(gateway).routes())
    app.add_routes(HealthApi(gateway).routes())
    app.add_routes(MetricsApi(gateway).routes())
    app.add_routes(SloApi(gateway).routes())
    app.add_routes(DashboardApi(gateway).routes())
    app.add_routes(ReliabilityMetricsApi(gateway).routes())
    app.add_routes(RuntimeApi(gateway).routes())
    app.add_routes(KeysApi(gateway).routes())
    app.add_routes(UsageApi(gateway).routes())
    app.add_routes(CacheApi(gateway).routes())
    app.add_routes(LifecycleApi(gateway).routes())
    app.add_routes(ShadowApi(gateway).routes())
    app.add_routes(ExperimentsApi(gateway).routes())
    app.add_routes(OpenApiDoc(gateway).routes())

    async def start(_: web.Application) -> None:
        await gateway.start()

    async def stop(_: web.Application) -> None:
        await gateway.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


def _check_admin(request: web.Request, admin_key: str) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() == "basic":  # a browser on the dashboard: any user, the key as password
        try:
            token = base64.b64decode(token, validate=True).decode().partition(":")[2]
        except ValueError:
            token = ""
    elif scheme.lower() != "bearer":
        token = ""
    if not token or not hmac.compare_digest(token.encode(), admin_key.encode()):
        browser = request.path.startswith("/dashboard")
        raise AuthenticationFailed(
            "This route needs the admin key: send 'Authorization: Bearer <admin_key>'.",
            code="admin_key_required",
            headers={"www-authenticate": 'Basic realm="steadyllm"'} if browser else None,
        )
