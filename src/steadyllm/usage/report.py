"""What a usage report asks for and how it is written out (JSON or CSV).

Dimensions: ``day``, ``tenant``, ``key``, ``user``, ``model``, ``deployment``,
``variant``, and the client metadata ``project_id`` and ``agent_type``. Days are UTC,
``start`` and ``end`` inclusive. Without ``group_by`` a report is one row of totals.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from steadyllm.errors import InvalidRequest

__all__ = [
    "DIMENSIONS",
    "MEASURES",
    "UsageQuery",
    "UsageRow",
    "parse_query",
    "render_csv",
    "render_json",
    "totals",
]

DIMENSIONS = (
    "day",
    "tenant",
    "key",
    "user",
    "model",
    "deployment",
    "variant",
    "project_id",
    "agent_type",
)
MEASURES = ("requests", "errors", "input_tokens", "output_tokens", "cost_usd", "unpriced_requests")
DEFAULT_DAYS = 30
MAX_DAYS = 3660


@dataclass(frozen=True, slots=True)
class UsageQuery:
    start: date
    end: date  # inclusive
    group_by: tuple[str, ...] = ()
    filters: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class UsageRow:
    group: dict[str, str | None]
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_requests: int = 0  # used tokens, but their deployment had no price

    def add(self, other: UsageRow) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd += other.cost_usd
        self.unpriced_requests += other.unpriced_requests

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.group,
            "requests": self.requests,
            "errors": self.errors,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
            "cost_usd": self.cost_usd,
            "unpriced_requests": self.unpriced_requests,
        }


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            f"'{name}' must be a date, YYYY-MM-DD; got {text!r}.", param=name
        ) from None


def parse_query(params: Mapping[str, str], *, today: date | None = None) -> UsageQuery:
    """A query from request or command-line parameters: ``start``, ``end``,
    ``group_by`` (comma-separated) and a filter per dimension (``model=fast``)."""
    today = today or datetime.now(UTC).date()
    end = _day(params["end"], "end") if params.get("end") else today
    start = (
        _day(params["start"], "start")
        if params.get("start")
        else end - timedelta(days=DEFAULT_DAYS - 1)
    )
    if start > end:
        raise InvalidRequest("'start' must not be after 'end'.", param="start")
    if (end - start).days >= MAX_DAYS:
        raise InvalidRequest(f"A report covers at most {MAX_DAYS} days.", param="start")
    group_by: list[str] = []
    for name in (params.get("group_by") or "").split(","):
        name = name.strip()
        if not name:
            continue
        if name not in DIMENSIONS:
            raise InvalidRequest(
                f"Cannot group by {name!r}; choose from {', '.join(DIMENSIONS)}.",
                param="group_by",
            )
        if name not in group_by:
            group_by.append(name)
    filters = {d: params[d] for d in DIMENSIONS if d != "day" and params.get(d)}
    return UsageQuery(start, end, tuple(group_by), filters)


def totals(rows: Sequence[UsageRow]) -> UsageRow:
    total = UsageRow(group={})
    for row in rows:
        total.add(row)
    return total


def render_json(query: UsageQuery, rows: Sequence[UsageRow]) -> dict[str, Any]:
    return {
        "object": "usage_report",
        "start": query.start.isoformat(),
        "end": query.end.isoformat(),
        "group_by": list(query.group_by),
        "filters": dict(query.filters),
        "data": [row.as_dict() for row in rows],
        "totals": totals(rows).as_dict(),
    }


def render_csv(query: UsageQuery, rows: Sequence[UsageRow]) -> str:
    out = io.StringIO()
    columns = [*query.group_by, *MEASURES[:4], "total_tokens", *MEASURES[4:]]
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.as_dict().items()})
    return out.getvalue()
