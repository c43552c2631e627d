"""Cache entries and call records for the contract suites."""

from __future__ import annotations

from typing import Any

from steadyllm.stores.base import CacheEntry, CallRecord


def make_entry(key: str, now: float, **fields: Any) -> CacheEntry:
    values: dict[str, Any] = {
        "tenant": "acme",
        "scope": "scope-1",
        "model": "fast",
        "variant": None,
        "user_message": f"question {key}",
        "response": {
            "id": f"chatcmpl-{key}",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": f"answer {key}"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 5},
        },
        "created_at": now,
        "expires_at": now + 3600,
        "last_accessed": now,
    }
    values.update(fields)
    return CacheEntry(key=key, **values)


def make_record(record_id: str, created_at: float, **fields: Any) -> CallRecord:
    values: dict[str, Any] = {
        "request_id": f"req-{record_id}",
        "kind": "chat",
        "model": "fast",
        "status": 200,
    }
    values.update(fields)
    return CallRecord(id=record_id, created_at=created_at, **values)
