"""Virtual keys and daily usage aggregates.

Revision ID: 0002_keys_usage
Revises: 0001
Create Date: 2025-01-02

``usage_daily`` is kept by a trigger on ``call_records``: every inserted record adds
to its day's row in the same transaction, so the aggregates always equal the sum of
the records (a record skipped as a duplicate fires nothing). Existing records are
folded in once here. Days are UTC; an absent dimension is stored as ''.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_keys_usage"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_DIMENSIONS = 'day, tenant, key_id, "user", model, deployment, variant, project_id, agent_type'
_MEASURES = ("requests", "errors", "input_tokens", "output_tokens", "cost_usd", "unpriced_requests")


def _json(none_as_null: bool = False) -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=none_as_null).with_variant(
        postgresql.JSONB(none_as_null=none_as_null), "postgresql"
    )


def _values(row: str, dialect: str) -> str:
    """The usage_daily values of one call record (``row`` is NEW, or a table alias)."""
    if dialect == "postgresql":
        day = f"to_char(to_timestamp({row}.created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        project = f"{row}.metadata ->> 'project_id'"
        agent = f"{row}.metadata ->> 'agent_type'"
        error = f"CASE WHEN {row}.status >= 400 THEN 1 ELSE 0 END"
    else:
        day = f"strftime('%Y-%m-%d', {row}.created_at, 'unixepoch')"
        project = f"CAST(json_extract({row}.metadata, '$.project_id') AS TEXT)"
        agent = f"CAST(json_extract({row}.metadata, '$.agent_type') AS TEXT)"
        error = f"CASE WHEN {row}.status >= 400 THEN 1 ELSE 0 END"
    unpriced = (
        f"CASE WHEN {row}.cost_usd IS NULL AND {row}.input_tokens + {row}.output_tokens > 0 "
        "THEN 1 ELSE 0 END"
    )
    return ", ".join(
        [
            day,
            f"{row}.tenant",
            f"COALESCE({row}.key_id, '')",
            f"COALESCE({row}.\"user\", '')",
            f"{row}.model",
            f"COALESCE({row}.deployment, '')",
            f"COALESCE({row}.variant, '')",
            f"COALESCE({project}, '')",
            f"COALESCE({agent}, '')",
            "1",
            error,
            f"{row}.input_tokens",
            f"{row}.output_tokens",
            f"COALESCE({row}.cost_usd, 0)",
            unpriced,
        ]
    )


def _upsert_tail() -> str:
    updates = ", ".join(f"{m} = usage_daily.{m} + excluded.{m}" for m in _MEASURES)
    return f"ON CONFLICT ({_DIMENSIONS}) DO UPDATE SET {updates}"


def _insert_head() -> str:
    return f"INSERT INTO usage_daily ({_DIMENSIONS}, {', '.join(_MEASURES)})"


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("hint", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("user", sa.Text),
        sa.Column("tier", sa.Text, nullable=False),
        sa.Column("allowed_models", _json(none_as_null=True)),
        sa.Column("limits", _json(), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("revoked_at", sa.Double),
        sa.Column("expires_at", sa.Double),
    )
    op.create_index("ix_api_keys_tenant", "api_keys", ["tenant"])

    op.create_table(
        "usage_daily",
        sa.Column("day", sa.Text, primary_key=True),
        sa.Column("tenant", sa.Text, primary_key=True),
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("user", sa.Text, primary_key=True),
        sa.Column("model", sa.Text, primary_key=True),
        sa.Column("deployment", sa.Text, primary_key=True),
        sa.Column("variant", sa.Text, primary_key=True),
        sa.Column("project_id", sa.Text, primary_key=True),
        sa.Column("agent_type", sa.Text, primary_key=True),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("input_tokens", sa.BigInteger, nullable=False),
        sa.Column("output_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_usd", sa.Double, nullable=False),
        sa.Column("unpriced_requests", sa.BigInteger, nullable=False),
    )

    dialect = op.get_bind().dialect.name
    # Records written before this migration: folded in once ("WHERE true": SQLite
    # needs it to parse an upsert whose rows come from a SELECT).
    op.execute(
        f"{_insert_head()} SELECT {_values('r', dialect)} FROM call_records AS r WHERE true "
        f"{_upsert_tail()}"
    )
    if dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION steadyllm_usage_daily_add() RETURNS trigger AS $$\n"
            f"BEGIN\n  {_insert_head()} VALUES ({_values('NEW', dialect)})\n"
            f"  {_upsert_tail()};\n  RETURN NULL;\nEND\n$$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER call_records_usage_daily AFTER INSERT ON call_records "
            "FOR EACH ROW EXECUTE FUNCTION steadyllm_usage_daily_add()"
        )
    else:
        op.execute(
            "CREATE TRIGGER call_records_usage_daily AFTER INSERT ON call_records BEGIN\n"
            f"  {_insert_head()} VALUES ({_values('NEW', dialect)})\n  {_upsert_tail()};\nEND"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS call_records_usage_daily ON call_records")
        op.execute("DROP FUNCTION IF EXISTS steadyllm_usage_daily_add()")
    else:
        op.execute("DROP TRIGGER IF EXISTS call_records_usage_daily")
    op.drop_table("usage_daily")
    op.drop_index("ix_api_keys_tenant", table_name="api_keys")
    op.drop_table("api_keys")
