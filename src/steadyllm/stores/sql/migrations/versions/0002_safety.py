"""The safety log: violations and per-hour check counts.

Revision ID: 0002_safety
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

revision = "0002_safety"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "safety_events",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("check_type", sa.Text, nullable=False),
        sa.Column("violation_type", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("blocked", sa.Boolean, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("conversation", sa.Text),
        sa.Column("score", sa.Double),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("details", _json(), nullable=False),
    )
    op.create_index("ix_safety_events_created_at", "safety_events", ["created_at"])
    op.create_index(
        "ix_safety_events_check_violation", "safety_events", ["check_type", "violation_type"]
    )
    op.create_table(
        "safety_checks",
        sa.Column("check_type", sa.Text, primary_key=True),
        sa.Column("hour", sa.Double, primary_key=True),
        sa.Column("checks", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("safety_checks")
    op.drop_table("safety_events")
