"""Shadow comparisons and A/B experiments.

Revision ID: 0002_shadow
Revises: 0001
Create Date: 2025-01-02

A branch of its own off 0001 (``upgrade`` runs every head). Portable types only;
the columns are spelled out here because migrations are frozen history.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_shadow"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "shadow_comparisons",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("session_id", sa.Text, nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("primary_variant", sa.Text, nullable=False),
        sa.Column("shadow_variant", sa.Text, nullable=False),
        sa.Column("primary_response", sa.Text, nullable=False),
        sa.Column("shadow_response", sa.Text, nullable=False),
        sa.Column("similarity", sa.Double, nullable=False),
        sa.Column("difference_score", sa.Double, nullable=False),
        sa.Column("is_different", sa.Boolean, nullable=False),
        sa.Column("action_differs", sa.Boolean, nullable=False),
        sa.Column("primary_duration_ms", sa.Double, nullable=False),
        sa.Column("shadow_duration_ms", sa.Double, nullable=False),
        sa.Column("latency_delta_ms", sa.Double, nullable=False),
        sa.Column("primary_cost", sa.Double),
        sa.Column("shadow_cost", sa.Double),
        sa.Column("cost_delta", sa.Double),
        sa.Column("shadow_error", sa.Text),
    )
    op.create_index(
        "ix_shadow_comparisons_session", "shadow_comparisons", ["session_id", "created_at"]
    )
    op.create_table(
        "experiments",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("route", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("definition", _json(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("experiments")
    op.drop_table("shadow_comparisons")
