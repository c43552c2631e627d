"""Call records and the response cache.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand with portable types, so the same file runs on SQLite and PostgreSQL.
Migrations are frozen history: they spell out their columns instead of importing
``schema.py``, which describes only the latest head.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "call_records",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("key_id", sa.Text),
        sa.Column("user", sa.Text),
        sa.Column("deployment", sa.Text),
        sa.Column("provider_model", sa.Text),
        sa.Column("variant", sa.Text),
        sa.Column("error_type", sa.Text),
        sa.Column("input_tokens", sa.Integer, nullable=False),
        sa.Column("output_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Double),
        sa.Column("latency_ms", sa.Double, nullable=False),
        sa.Column("ttft_ms", sa.Double),
        sa.Column("overhead_ms", sa.Double, nullable=False),
        sa.Column("cache_status", sa.Text),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("stream_outcome", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("fallback_path", _json(), nullable=False),
        sa.Column("metadata", _json(), nullable=False),
    )
    op.create_index("ix_call_records_created_at", "call_records", ["created_at"])
    op.create_index("ix_call_records_request_id", "call_records", ["request_id"])
    op.create_index("ix_call_records_tenant_created_at", "call_records", ["tenant", "created_at"])

    op.create_table(
        "response_cache",
        sa.Column("message_hash", sa.Text, primary_key=True),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("variant", sa.Text),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("user_message", sa.Text, nullable=False),
        sa.Column("response_message", sa.Text),
        sa.Column("response_action", sa.Text),
        sa.Column("response_data", _json(), nullable=False),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.Column("input_tokens", sa.Integer, nullable=False),
        sa.Column("output_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Double, nullable=False),
        sa.Column("response_time_ms", sa.Double, nullable=False),
        sa.Column("streamed", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("hit_count", sa.Integer, nullable=False),
        sa.Column("last_accessed", sa.Double, nullable=False),
    )
    op.create_index(
        "ix_response_cache_tenant_scope", "response_cache", ["tenant", "scope", "last_accessed"]
    )
    op.create_index("ix_response_cache_last_accessed", "response_cache", ["last_accessed"])
    op.create_index("ix_response_cache_variant", "response_cache", ["variant"])
    op.create_index("ix_response_cache_expires_at", "response_cache", ["expires_at"])


def downgrade() -> None:
    op.drop_table("response_cache")
    op.drop_table("call_records")
