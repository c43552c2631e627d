"""The request path: a list of stages folded once into one handler.

A stage is an async callable ``(call, call_next) -> Response``. It may act before
and after ``call_next``, replace the response, retry ``call_next``, or answer
without calling it. The innermost handler (the provider) takes only the call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from steadyllm.call import Call, Response

__all__ = ["Handler", "Stage", "fold"]

Handler = Callable[[Call], Awaitable[Response]]


class Stage(Protocol):
    name: str

    async def __call__(self, call: Call, call_next: Handler) -> Response: ...


def _bind(stage: Stage, call_next: Handler) -> Handler:
    async def handler(call: Call) -> Response:
        return await stage(call, call_next)

    handler.__qualname__ = f"stage:{stage.name}"
    return handler


def fold(
    stages: Sequence[Stage],
    innermost: Handler,
    *,
    wrap: Callable[[str, Handler], Handler] | None = None,
) -> Handler:
    """Compose ``stages`` (outermost first) around ``innermost``, once, at startup.

    ``wrap(name, handler)``, when given, wraps each stage's handler and the innermost
    one (named ``"provider"``), e.g. in a trace span; without it nothing is added.
    """
    handler = innermost if wrap is None else wrap("provider", innermost)
    for stage in reversed(stages):
        handler = _bind(stage, handler)
        if wrap is not None:
            handler = wrap(stage.name, handler)
    return handler
