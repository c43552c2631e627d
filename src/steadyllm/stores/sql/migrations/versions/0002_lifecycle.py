"""The lifecycle: conversation outcomes, prompt versions, drift, retraining, exports.

Revision ID: 0002_lifecycle
Revises: 0001
Create Date: 2025-01-03

A branch of its own off 0001 (``upgrade`` runs every head). Portable types only;
the columns are spelled out here because migrations are frozen history.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_lifecycle"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "conversation_outcomes",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("request_id", sa.Text),
        sa.Column("conversation_id", sa.Text),
        sa.Column("variant", sa.Text),
        sa.Column("version", sa.Integer),
        sa.Column("model", sa.Text),
        sa.Column("booked", sa.Boolean),
        sa.Column("escalated", sa.Boolean),
        sa.Column("action", sa.Text),
        sa.Column("rating", sa.Double),
        sa.Column("text", sa.Text),
        sa.Column("outcomes", _json(), nullable=False),
        sa.Column("messages", _json(), nullable=False),
        sa.Column("cost_usd", sa.Double),
        sa.Column("latency_ms", sa.Double),
        sa.Column("tokens", sa.Integer),
    )
    op.create_index(
        "ix_conversation_outcomes_variant_created",
        "conversation_outcomes",
        ["variant", "created_at"],
    )
    op.create_index("ix_conversation_outcomes_request_id", "conversation_outcomes", ["request_id"])
    op.create_index("ix_conversation_outcomes_created_at", "conversation_outcomes", ["created_at"])
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("variant", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("system_prompt", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_by", sa.Text),
        sa.Column("changes", _json(), nullable=False),
        sa.Column("metadata", _json(), nullable=False),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("previous_active", sa.Integer),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("activated_at", sa.Double),
        sa.Column("deactivated_at", sa.Double),
    )
    op.create_index(
        "ux_model_versions_variant_version", "model_versions", ["variant", "version"], unique=True
    )
    op.create_table(
        "drift_detections",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("variant", sa.Text, nullable=False),
        sa.Column("detected_at", sa.Double, nullable=False),
        sa.Column("drift_detected", sa.Boolean, nullable=False),
        sa.Column("severity", sa.Text),
        sa.Column("metrics", _json(), nullable=False),
        sa.Column("baseline_start", sa.Double, nullable=False),
        sa.Column("recent_start", sa.Double, nullable=False),
        sa.Column("baseline_conversations", sa.Integer, nullable=False),
        sa.Column("recent_conversations", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_drift_detections_variant_detected", "drift_detections", ["variant", "detected_at"]
    )
    op.create_table(
        "retraining_sessions",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("variant", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("step", sa.Text, nullable=False),
        sa.Column("trigger", _json(), nullable=False),
        sa.Column("state", _json(), nullable=False),
        sa.Column("reasons", _json(), nullable=False),
        sa.Column("base_version", sa.Integer),
        sa.Column("new_version", sa.Integer),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("completed_at", sa.Double),
    )
    op.create_index(
        "ix_retraining_sessions_variant_started", "retraining_sessions", ["variant", "started_at"]
    )
    op.create_table(
        "learning_exports",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("exported_at", sa.Double, nullable=False),
        sa.Column("last_created_at", sa.Double, nullable=False),
        sa.Column("last_id", sa.Text, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
    )
    op.create_index("ix_learning_exports_exported_at", "learning_exports", ["exported_at"])


def downgrade() -> None:
    op.drop_table("learning_exports")
    op.drop_table("retraining_sessions")
    op.drop_table("drift_detections")
    op.drop_table("model_versions")
    op.drop_table("conversation_outcomes")
