"""A NUL (U+0000) in a client's string is written, not a failed batch, on every backend.

Regression: JSON allows ``"\\u0000"``, so a chat's ``user`` or ``metadata`` can carry
one, and PostgreSQL text and JSONB refuse it: the whole record batch failed (records
lost) and admin writes answered 500. PostgreSQL stores it as U+FFFD; the others keep it.
"""

from __future__ import annotations

import pytest

from steadyllm.stores.base import RecordStore
from tests.stores.values import make_record


async def test_nul_in_text_and_json_fields(
    record_store: RecordStore, request: pytest.FixtureRequest
) -> None:
    postgres = request.node.callspec.params["record_store"] == "postgresql"

    def _stored(text: str) -> str:
        return text.replace("\x00", "\ufffd") if postgres else text

    record = make_record(
        "nul",
        1_700_000_000.0,
        user="al\x00ice",
        tenant="acme\x00",
        metadata={"note": "a\x00b", "k\x00ey": ["x\x00"], "literal": "\\u0000 stays"},
    )
    await record_store.write_calls([record, make_record("plain", 1_700_000_001.0)])
    stored = await record_store.get_call("nul")
    assert stored is not None
    assert stored.user == _stored("al\x00ice")
    assert stored.tenant == _stored("acme\x00")
    assert stored.metadata == {
        "note": _stored("a\x00b"),
        _stored("k\x00ey"): [_stored("x\x00")],
        "literal": "\\u0000 stays",  # a backslash-u0000 written out is not a NUL
    }
    assert await record_store.get_call("plain") is not None
