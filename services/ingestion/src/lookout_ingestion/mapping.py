"""Map step: one validated event → its rows, by table (the mapping table is in the README).

A row is a tuple in the table's insert column order (``COLUMNS``), without the Kafka origin columns
(``_topic``, ``_log``, ``_partition``, ``_offset``), which the encoder appends.
"""

from __future__ import annotations

import uuid
from typing import Any, Final, Literal

from lookout_contracts.fast import data_json

Table = Literal["dashboard_events", "query_metrics", "user_activity"]
TABLES: Final[tuple[Table, ...]] = ("dashboard_events", "query_metrics", "user_activity")

ORIGIN_COLUMNS: Final = ("_topic", "_log", "_partition", "_offset")
COLUMNS: Final[dict[Table, tuple[str, ...]]] = {
    "dashboard_events": (
        "event_id",
        "dashboard_id",
        "user_id",
        "tenant_id",
        "event_type",
        "event_data",
        "timestamp",
        *ORIGIN_COLUMNS,
    ),
    "query_metrics": (
        "query_id",
        "user_id",
        "tenant_id",
        "data_source_id",
        "saved_query_id",
        "query_text",
        "execution_time_ms",
        "rows_returned",
        "bytes_returned",
        "timestamp",
        "status",
        *ORIGIN_COLUMNS,
    ),
    "user_activity": (
        "activity_id",
        "user_id",
        "tenant_id",
        "session_id",
        "activity_type",
        "resource_type",
        "resource_id",
        "timestamp",
        *ORIGIN_COLUMNS,
    ),
}

NO_USER: Final = uuid.UUID(int=0)
"""``user_id`` of a row whose event has no actor (the column is a non-nullable UUID)."""

AD_HOC: Final = uuid.UUID(int=0)
"""``saved_query_id`` of an ad hoc execution (the event's ``saved_query_id`` is null): the zero
UUID, not a ``Nullable`` column — the value rows stored before the column existed have too, and a
plain ``UUID`` can be in a sort key (README, "Mapping")."""

Row = tuple[Any, ...]

DATETIME_MAX: Final = 2**32 - 1
"""ClickHouse ``DateTime`` is a UInt32 of seconds: 1970-01-01 to 2106-02-07."""


class Unmappable(ValueError):
    """A valid event that no row can hold (its time is outside ``DateTime``): dead-lettered."""

    code: Final = "unmappable"


def map_event(event: Any) -> list[tuple[Table, Row]]:
    """The rows ``event`` (a contracts envelope or its fast mirror) contributes, at most one per
    table; none is a valid outcome.

    Raises ``Unmappable`` for an event whose time a ``DateTime`` cannot hold."""
    rows: list[tuple[Table, Row]] = []
    timestamp = int(event.time.timestamp())
    if not 0 <= timestamp <= DATETIME_MAX:
        raise Unmappable("time outside ClickHouse DateTime (1970-01-01 to 2106-02-07)")
    actor = event.actor_id
    subject = event.subject
    tenant = event.tenant_id
    event_type = event.type
    if subject.type == "dashboard":
        rows.append(
            (
                "dashboard_events",
                (
                    event.id,
                    subject.id,  # a canonical UUID (the contracts' pattern): the encoder reads it
                    actor or NO_USER,
                    tenant,
                    event_type,
                    data_json(event),
                    timestamp,
                ),
            )
        )
    if event_type == "query.executed":
        data = event.data  # QueryExecutedV1's fields (pydantic model or its fast mirror)
        rows.append(
            (
                "query_metrics",
                (
                    data.query_id,
                    actor or NO_USER,
                    tenant,
                    data.data_source_id,
                    data.saved_query_id or AD_HOC,
                    data.query_text,
                    data.execution_time_ms,
                    data.rows_returned,
                    data.bytes_returned,
                    timestamp,
                    data.status,
                ),
            )
        )
    if actor is not None:
        rows.append(
            (
                "user_activity",
                (
                    event.id,
                    actor,
                    tenant,
                    event.session_id or "",
                    event_type,
                    subject.type,
                    subject.id,
                    timestamp,
                ),
            )
        )
    return rows
