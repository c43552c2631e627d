from steadyllm.call import Call, Response
from steadyllm.pipeline import Handler, fold


class Tag:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    async def __call__(self, call: Call, call_next: Handler) -> Response:
        self.log.append(f"{self.name}>")
        response = await call_next(call)
        self.log.append(f"<{self.name}")
        return response


class ShortCircuit:
    name = "short"

    async def __call__(self, call: Call, call_next: Handler) -> Response:
        return Response(body={"from": "short"})


async def test_fold_runs_outer_to_inner_and_back() -> None:
    log: list[str] = []

    async def inner(call: Call) -> Response:
        log.append("inner")
        return Response(body={"ok": True})

    handler = fold([Tag("a", log), Tag("b", log)], inner)
    response = await handler(Call(request_id="r", kind="chat", body={}))
    assert response.body == {"ok": True}
    assert log == ["a>", "b>", "inner", "<b", "<a"]


async def test_a_stage_may_answer_without_calling_next() -> None:
    log: list[str] = []

    async def inner(call: Call) -> Response:
        raise AssertionError("must not be reached")

    handler = fold([Tag("a", log), ShortCircuit()], inner)
    response = await handler(Call(request_id="r", kind="chat", body={}))
    assert response.body == {"from": "short"}
    assert log == ["a>", "<a"]
