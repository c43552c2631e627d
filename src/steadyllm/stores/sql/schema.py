"""The SQL tables, as SQLAlchemy Core metadata: what the stores query.

The migrations in ``migrations/versions`` create these tables; this module describes
the head of that history. When a table changes, change both (a test compares them).

Portable types only: text, 64-bit floats for epoch seconds and dollars, JSON (JSONB on
PostgreSQL). Every timestamp is epoch seconds as a float.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

__all__ = [
    "API_KEYS",
    "CALL_RECORDS",
    "EXPERIMENTS",
    "METADATA",
    "RESPONSE_CACHE",
    "SAFETY_CHECKS",
    "SAFETY_EVENTS",
    "SHADOW_COMPARISONS",
    "SHADOW_HISTORY",
    "USAGE_DAILY",
    "VERSION_TABLE",
    "json_type",
]

METADATA = sa.MetaData()

# Alembic's record of the applied revision, under our own name so steadyllm can share
# a database with an application that has its own Alembic history.
VERSION_TABLE = "steadyllm_alembic_version"


def json_type() -> sa.types.TypeEngine[Any]:
    """JSON everywhere, JSONB on PostgreSQL so records can be queried by their contents."""
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


CALL_RECORDS = sa.Table(
    "call_records",
    METADATA,
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
    sa.Column("cost_usd", sa.Double),  # NULL: the price was unknown
    sa.Column("latency_ms", sa.Double, nullable=False),
    sa.Column("ttft_ms", sa.Double),
    sa.Column("overhead_ms", sa.Double, nullable=False),
    sa.Column("cache_status", sa.Text),
    sa.Column("stream", sa.Boolean, nullable=False),
    sa.Column("stream_outcome", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("fallback_path", json_type(), nullable=False),
    sa.Column("metadata", json_type(), nullable=False),
    sa.Index("ix_call_records_created_at", "created_at"),
    sa.Index("ix_call_records_request_id", "request_id"),
    sa.Index("ix_call_records_tenant_created_at", "tenant", "created_at"),
)

RESPONSE_CACHE = sa.Table(
    "response_cache",
    METADATA,
    sa.Column("message_hash", sa.Text, primary_key=True),  # CacheEntry.key
    sa.Column("tenant", sa.Text, nullable=False),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("variant", sa.Text),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("user_message", sa.Text, nullable=False),
    # response_message and response_action repeat parts of response_data so people can
    # read the cache with plain SQL; the stores only read response_data back.
    sa.Column("response_message", sa.Text),
    sa.Column("response_action", sa.Text),
    sa.Column("response_data", json_type(), nullable=False),
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
    # (tenant, scope, last_accessed) answers scan's filter and its order in one index.
    sa.Index("ix_response_cache_tenant_scope", "tenant", "scope", "last_accessed"),
    sa.Index("ix_response_cache_last_accessed", "last_accessed"),
    sa.Index("ix_response_cache_variant", "variant"),
    sa.Index("ix_response_cache_expires_at", "expires_at"),
)


# --- keys and usage (migration 0002_keys_usage) -------------------------------------

API_KEYS = sa.Table(
    "api_keys",
    METADATA,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("key_hash", sa.Text, nullable=False, unique=True),  # SHA-256 of the secret
    sa.Column("hint", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("tenant", sa.Text, nullable=False),
    sa.Column("user", sa.Text),
    sa.Column("tier", sa.Text, nullable=False),
    # NULL: every model (a JSON null would read back as None too, but not query as NULL)
    sa.Column(
        "allowed_models",
        sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql"),
    ),
    sa.Column("limits", json_type(), nullable=False),  # overrides of the tier's limits
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("revoked_at", sa.Double),
    sa.Column("expires_at", sa.Double),
    sa.Index("ix_api_keys_tenant", "tenant"),
)

# One row per UTC day and combination of the report dimensions, kept by a trigger on
# call_records (see the migration): an absent dimension is '' so the key is unique.
USAGE_DAILY = sa.Table(
    "usage_daily",
    METADATA,
    sa.Column("day", sa.Text, primary_key=True),  # YYYY-MM-DD, UTC
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
    sa.Column("unpriced_requests", sa.BigInteger, nullable=False),  # tokens used, price unknown
)

# --- the safety log (migration 0002_safety) -------------------------------------------

SAFETY_EVENTS = sa.Table(
    "safety_events",
    METADATA,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("check_type", sa.Text, nullable=False),  # input | output | validation
    sa.Column("violation_type", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("blocked", sa.Boolean, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("tenant", sa.Text, nullable=False),
    sa.Column("conversation", sa.Text),
    sa.Column("score", sa.Double),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("details", json_type(), nullable=False),
    sa.Index("ix_safety_events_created_at", "created_at"),
    sa.Index("ix_safety_events_check_violation", "check_type", "violation_type"),
)

# Checks counted per type and hour (epoch seconds of the hour's start).
SAFETY_CHECKS = sa.Table(
    "safety_checks",
    METADATA,
    sa.Column("check_type", sa.Text, primary_key=True),
    sa.Column("hour", sa.Double, primary_key=True),
    sa.Column("checks", sa.BigInteger, nullable=False),
)


# --- lifecycle: outcomes, versions, drift, retraining, exports (migration 0002_lifecycle)

CONVERSATION_OUTCOMES = sa.Table(
    "conversation_outcomes",
    METADATA,
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
    sa.Column("outcomes", json_type(), nullable=False),
    sa.Column("messages", json_type(), nullable=False),
    sa.Column("cost_usd", sa.Double),
    sa.Column("latency_ms", sa.Double),
    sa.Column("tokens", sa.Integer),
    sa.Index("ix_conversation_outcomes_variant_created", "variant", "created_at"),
    sa.Index("ix_conversation_outcomes_request_id", "request_id"),
    sa.Index("ix_conversation_outcomes_created_at", "created_at"),
)

MODEL_VERSIONS = sa.Table(
    "model_versions",
    METADATA,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("variant", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("system_prompt", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("created_by", sa.Text),
    sa.Column("changes", json_type(), nullable=False),
    sa.Column("metadata", json_type(), nullable=False),
    sa.Column("tags", json_type(), nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False),
    sa.Column("previous_active", sa.Integer),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("activated_at", sa.Double),
    sa.Column("deactivated_at", sa.Double),
    sa.Index("ux_model_versions_variant_version", "variant", "version", unique=True),
)

DRIFT_DETECTIONS = sa.Table(
    "drift_detections",
    METADATA,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("variant", sa.Text, nullable=False),
    sa.Column("detected_at", sa.Double, nullable=False),
    sa.Column("drift_detected", sa.Boolean, nullable=False),
    sa.Column("severity", sa.Text),
    sa.Column("metrics", json_type(), nullable=False),
    sa.Column("baseline_start", sa.Double, nullable=False),
    sa.Column("recent_start", sa.Double, nullable=False),
    sa.Column("baseline_conversations", sa.Integer, nullable=False),
    sa.Column("recent_conversations", sa.Integer, nullable=False),
    sa.Index("ix_drift_detections_variant_detected", "variant", "detected_at"),
)

RETRAINING_SESSIONS = sa.Table(
    "retraining_sessions",
    METADATA,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("variant", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("step", sa.Text, nullable=False),
    sa.Column("trigger", json_type(), nullable=False),
    sa.Column("state", json_type(), nullable=False),
    sa.Column("reasons", json_type(), nullable=False),
    sa.Column("base_version", sa.Integer),
    sa.Column("new_version", sa.Integer),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("completed_at", sa.Double),
    sa.Index("ix_retraining_sessions_variant_started", "variant", "started_at"),
)

LEARNING_EXPORTS = sa.Table(
    "learning_exports",
    METADATA,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("exported_at", sa.Double, nullable=False),
    sa.Column("last_created_at", sa.Double, nullable=False),
    sa.Column("last_id", sa.Text, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Index("ix_learning_exports_exported_at", "exported_at"),
)


# --- shadow comparisons and experiments (migration 0002_shadow) --------------------------

SHADOW_COMPARISONS = sa.Table(
    "shadow_comparisons",
    METADATA,
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
    sa.Index("ix_shadow_comparisons_session", "session_id", "created_at"),
)

SHADOW_HISTORY = sa.Table(
    "shadow_history",
    METADATA,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("session_id", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("entry", json_type(), nullable=False),
    sa.Index("ix_shadow_history_at", "at"),
)

EXPERIMENTS = sa.Table(
    "experiments",
    METADATA,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("route", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("definition", json_type(), nullable=False),  # arms, subject, outcome, alpha
)
