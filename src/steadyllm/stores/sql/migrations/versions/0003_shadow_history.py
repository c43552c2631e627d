"""The shadow tests' history (start, ramp, promote, rollback, stop).

Revision ID: 0003_shadow_history
Revises: 0002_shadow
Create Date: 2025-01-03
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_shadow_history"
down_revision: str | None = "0002_shadow"
branch_labels: str | None = None
depends_on: str | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "shadow_history",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("session_id", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("entry", _json(), nullable=False),
    )
    op.create_index("ix_shadow_history_at", "shadow_history", ["at"])


def downgrade() -> None:
    op.drop_table("shadow_history")
