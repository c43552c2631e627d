"""The OpenAPI document: exactly the app's routes, a valid 3.1 document, served open."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from steadyllm.config import load_settings
from steadyllm.gateway import Gateway
from steadyllm.server.app import create_app
from steadyllm.server.openapi import openapi_spec

SETTINGS = {
    "server": {"admin_key": "admin-secret"},
    "store": {"url": "memory://"},
    "models": [{"name": "fast", "deployments": [{"provider": "sim", "model": "s"}]}],
}


def _app() -> web.Application:
    return create_app(Gateway(load_settings(SETTINGS)))


def _router_operations(app: web.Application) -> set[tuple[str, str]]:
    """Every (method, path) the router serves; HEAD is aiohttp's automatic twin of GET."""
    found: set[tuple[str, str]] = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        assert route.resource is not None
        found.add((route.method.lower(), route.resource.canonical))
    return found


def _spec_operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, item in spec["paths"].items() for method in item}


def test_the_spec_covers_exactly_the_router() -> None:
    spec = openapi_spec()
    router = _router_operations(_app())
    documented = _spec_operations(spec)
    assert router - documented == set(), "routes missing from the OpenAPI document"
    assert documented - router == set(), "documented operations the app does not serve"
    assert len(router) > 60  # the comparison saw the whole app, not an empty router


def test_the_spec_is_a_valid_openapi_document() -> None:
    validate(openapi_spec())  # raises OpenAPIValidationError
    validate(openapi_spec(models=["fast", "claude"]))


def test_every_refusal_is_documented_in_the_error_shape() -> None:
    spec = openapi_spec()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            refusal = operation["responses"]["4XX"]["content"]["application/json"]["schema"]
            expected = "AnthropicError" if path == "/v1/messages" else "Error"
            assert refusal == {"$ref": f"#/components/schemas/{expected}"}, (method, path)
    error = spec["components"]["schemas"]["Error"]["properties"]["error"]
    assert error["required"] == ["message", "type", "param", "code"]


def test_open_routes_are_exactly_the_unguarded_prefixes() -> None:
    for path, item in openapi_spec()["paths"].items():
        guarded = path.startswith(("/api/", "/dashboard", "/metrics"))
        for operation in item.values():
            assert (operation.get("security") != []) == guarded, path


async def test_served_open_with_the_configured_models() -> None:
    async with TestClient(TestServer(_app())) as client:
        response = await client.get("/openapi.json")  # no admin key: the document is open
        assert response.status == 200
        spec = await response.json()
        guarded = await client.get("/api/keys")
        assert guarded.status == 401
    assert spec["openapi"] == "3.1.0"
    model = spec["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]["properties"]["model"]
    assert model["examples"] == ["fast"]
    assert _spec_operations(spec) == _spec_operations(openapi_spec())
