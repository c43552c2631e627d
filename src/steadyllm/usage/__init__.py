"""Usage reports: requests, tokens and cost by key, user, model, ... over days.

``usage.report`` holds the query and the JSON/CSV output; ``usage.store`` the stores
that answer it (imported on its own: it loads SQLAlchemy).
"""

from steadyllm.usage.report import (
    DIMENSIONS,
    UsageQuery,
    UsageRow,
    parse_query,
    render_csv,
    render_json,
)

__all__ = ["DIMENSIONS", "UsageQuery", "UsageRow", "parse_query", "render_csv", "render_json"]
