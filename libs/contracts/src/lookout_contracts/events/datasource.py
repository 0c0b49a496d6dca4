"""Event data published by the datasource service: data sources, saved queries, query executions.

Never carries a connection's configuration (host, user, password, certificates) nor the values bound
to a query's parameters: only that they changed, or the query text with its placeholders.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from lookout_contracts.events.base import ErrorMessage, EventData, Name

DataSourceType = Literal["postgresql", "clickhouse", "mysql"]
QueryStatus = Literal["success", "failed", "cancelled", "timeout"]
QueryText = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
ErrorCode = Annotated[str, StringConstraints(min_length=1, max_length=64)]

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1


# Data sources (subject: the data source) ---------------------------------------------------------


class DataSourceCreatedV1(EventData):
    """A data source was created. Its connection configuration stays in the datasource service."""

    name: Name
    type: DataSourceType
    owner_id: UUID


class DataSourceUpdatedV1(EventData):
    """A data source changed; carries its new name and owner, never its connection settings."""

    name: Name
    owner_id: UUID
    changed_fields: tuple[Literal["name", "connection_config", "owner_id"], ...] = Field(
        min_length=1
    )


class DataSourceDeletedV1(EventData):
    """A data source was deleted."""


class DataSourceTestedV1(EventData):
    """A connection test ran. ``error`` is the driver's message with credentials removed."""

    succeeded: bool
    latency_ms: Annotated[int, Field(ge=0, le=UINT32_MAX)] | None
    error: ErrorMessage | None
    error_code: ErrorCode | None = None
    """Why it failed, as a stable code (``bad_credentials``, ``unreachable``, ``timeout``,
    ``unknown_database``, ``egress_refused``, ...)."""


class DataSourceSchemaRefreshedV1(EventData):
    """The schema browser read a data source's tables and columns again, or failed to.

    The counts are what the browser holds after the refresh (unchanged when it failed);
    ``removed_columns``: how many columns it dropped because the source no longer has them.
    """

    succeeded: bool
    tables: int = Field(ge=0, le=UINT32_MAX)
    columns: int = Field(ge=0, le=UINT32_MAX)
    removed_columns: int = Field(ge=0, le=UINT32_MAX)
    error: ErrorMessage | None
    error_code: ErrorCode | None


# Saved queries (subject: the saved query) --------------------------------------------------------


class SavedQueryCreatedV1(EventData):
    """A saved query was created."""

    name: Name
    data_source_id: UUID
    owner_id: UUID
    is_public: bool


class SavedQueryUpdatedV1(EventData):
    """A saved query changed; carries its new small state (not its text or parameters)."""

    name: Name
    data_source_id: UUID
    owner_id: UUID
    is_public: bool
    changed_fields: tuple[
        Literal[
            "name",
            "description",
            "query_text",
            "parameters",
            "data_source_id",
            "is_public",
            "owner_id",
        ],
        ...,
    ] = Field(min_length=1)


class SavedQueryDeletedV1(EventData):
    """A saved query was deleted: alerts on it stop."""


# Query executions (subject: the execution, id = query_id) ----------------------------------------


class QueryExecutedV1(EventData):
    """One query execution ended (saved or ad hoc, whatever its outcome): a ``query_metrics`` row.

    ``query_id`` is the execution's id and equals the envelope's subject id; the executing user is
    the envelope's actor and the time the envelope's time. ``query_text`` is the SQL as run, with
    its parameter placeholders: parameter values are never in the event.
    """

    query_id: UUID
    data_source_id: UUID
    saved_query_id: UUID | None
    query_text: QueryText
    execution_time_ms: int = Field(ge=0, le=UINT32_MAX)
    rows_returned: int = Field(ge=0, le=UINT64_MAX)
    bytes_returned: int = Field(ge=0, le=UINT64_MAX)
    status: QueryStatus
    error: ErrorMessage | None
