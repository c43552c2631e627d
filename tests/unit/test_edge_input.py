"""The edge's nesting check: JSON deeper than the encoder goes is a 400, not a 500.

Regression: a chat body with a 600-level list inside ``tools`` parsed (orjson reads
1024 levels) but failed ``orjson.dumps`` when forwarded upstream — a 500.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from steadyllm.errors import InvalidRequest
from steadyllm.server.edge_input import MAX_JSON_DEPTH, check_nesting


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth - 1):
        value = [value]
    return {"tools": value} if depth > 1 else value


def test_as_deep_as_the_encoder_goes_passes() -> None:
    body = orjson.dumps(nested(MAX_JSON_DEPTH))
    check_nesting(body)
    orjson.dumps(orjson.loads(body))  # and it can be forwarded


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 600, 1024])
def test_deeper_is_refused(depth: int) -> None:
    body = b'{"tools":' + b"[" * (depth - 1) + b"1" + b"]" * (depth - 1) + b"}"
    with pytest.raises(InvalidRequest, match="nested too deeply"):
        check_nesting(body)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,  # not JSON: the handler's parser says so
        b"\xff" * 300 + b"[" * 300,
        b"[]" * 5_000,  # many brackets, shallow
        b'{"content": "' + b"[" * 5_000 + b'"}',  # brackets inside a string
    ],
)
def test_many_brackets_but_not_deep_passes(body: bytes) -> None:
    check_nesting(body)
