"""``fold(..., wrap=)``: every stage and the provider wrapped once, by name, in order."""

from __future__ import annotations

from steadyllm.call import Call, Response
from steadyllm.pipeline import Handler, fold


class Named:
    def __init__(self, name: str) -> None:
        self.name = name

    async def __call__(self, call: Call, call_next: Handler) -> Response:
        return await call_next(call)


async def test_wrap_sees_every_stage_and_the_provider() -> None:
    seen: list[str] = []

    def wrap(name: str, handler: Handler) -> Handler:
        async def wrapped(call: Call) -> Response:
            seen.append(name)
            return await handler(call)

        return wrapped

    async def provider(call: Call) -> Response:
        return Response(body={"ok": True})

    handler = fold([Named("record"), Named("auth"), Named("route")], provider, wrap=wrap)
    response = await handler(Call(request_id="r", kind="chat", body={}))
    assert response.body == {"ok": True}
    assert seen == ["record", "auth", "route", "provider"]
