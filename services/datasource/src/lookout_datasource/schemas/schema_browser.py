"""HTTP bodies of the connection test and the schema browser: a test's outcome, a refresh's
summary (also kept in the source's ``schema_info``), a page of tables, a table's columns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Problem(BaseModel):
    """Why a source could not be used: a stable ``code`` and a message safe to show."""

    code: str = Field(
        description="bad_credentials, unreachable, timeout, unknown_database, egress_refused, ..."
    )
    message: str


class ConnectionTest(BaseModel):
    """A connection test's outcome. A source that cannot be reached is an answer, not an error of
    the request: ``succeeded`` false with the ``error``."""

    succeeded: bool
    server_version: str | None
    latency_ms: int | None
    error: Problem | None
    status: str = Field(description="The source's status now: active or error")
    tested_at: datetime


class SchemaSummary(BaseModel):
    """The last refresh of a source's schema, as kept in the source's ``schema_info``."""

    succeeded: bool
    tables: int = Field(description="Tables (and views) the browser holds")
    columns: int
    removed_columns: int = Field(description="Columns dropped because the source lost them")
    refreshed_at: datetime | None = Field(description="The last successful refresh")
    attempted_at: datetime
    error: Problem | None

    def as_info(self) -> dict[str, Any]:
        """What ``data_sources.schema_info`` stores (JSON)."""
        return self.model_dump(mode="json")


class Table(BaseModel):
    schema_name: str = Field(description="The schema (PostgreSQL) or database (MySQL, ClickHouse)")
    table_name: str
    columns: int


class TablePage(BaseModel):
    items: list[Table]
    next_cursor: str | None


class TableColumn(BaseModel):
    name: str
    data_type: str
    is_nullable: bool
    column_default: str | None
    position: int = Field(description="1, 2, ... in the table's own order")


class TableColumns(BaseModel):
    schema_name: str
    table_name: str
    columns: list[TableColumn]
