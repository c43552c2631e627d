"""JSON cut at the client's own ``max_tokens`` is the client's 422, not an upstream failure.

Regression (found by the schemathesis fuzz run on ``/v1/``): ``response_format:
json_object`` with a tiny ``max_tokens`` made every deployment's answer fail validation
("truncated"), so the client got 503 "no deployment could answer" — and each such
request counted against the deployments' breakers, a client-made outage.
"""

from __future__ import annotations

from typing import Any

import pytest

from steadyllm.call import Response
from steadyllm.errors import Unprocessable
from steadyllm.safety.service import AnswerRejected
from steadyllm.stages.validate import ValidateStage
from tests.safety.helpers import Upstream, make_call, make_safety

CUT = '{"slot": "15:00", "confi'


def cut_answer() -> Response:
    message = {"role": "assistant", "content": CUT}
    return Response(
        body={"choices": [{"index": 0, "message": message, "finish_reason": "length"}]},
        deployment="fast/sim#0",
    )


def json_call(**body: Any) -> Any:
    return make_call(
        [{"role": "user", "content": "When?"}], response_format={"type": "json_object"}, **body
    )


@pytest.mark.parametrize("limit", [{"max_tokens": 3}, {"max_completion_tokens": 3}])
async def test_cut_at_the_clients_limit_is_a_422(limit: dict[str, int]) -> None:
    safety = make_safety({"validation": {"recovery": ["repair", "failover"]}})
    upstream = Upstream(cut_answer)
    with pytest.raises(Unprocessable) as refused:
        await ValidateStage(safety)(json_call(**limit), upstream)
    assert refused.value.http_status == 422
    assert refused.value.code == "max_tokens_too_small"
    assert len(upstream.bodies) == 1  # one attempt: no failover to another deployment


async def test_cut_without_a_client_limit_is_still_the_upstreams_failure() -> None:
    safety = make_safety({"validation": {"recovery": ["repair", "failover"]}})
    with pytest.raises(AnswerRejected) as rejected:
        await ValidateStage(safety)(json_call(), Upstream(cut_answer))
    assert rejected.value.retryable
