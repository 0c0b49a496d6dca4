"""HTTP bodies of data sources. ``connection_config`` is validated per kind by the connector
registry's model (``service/data_sources.py``); its secret fields are write-only: a response shows
``MASK`` for a secret that is set and null for one that is not."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

from lookout_contracts.events.datasource import DataSourceType
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from lookout_datasource.repository.data_sources import DataSourceRow

MASK = "********"
Name = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")]
Config = Annotated[
    dict[str, Any],
    Field(
        max_length=50,
        description="The kind's connection settings; secret fields (password) are write-only",
    ),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSourceCreate(_Body):
    name: Name
    type: DataSourceType
    connection_config: Config


class DataSourceUpdate(_Body):
    """A partial update. ``connection_config`` is merged into the stored one: a key given replaces,
    a key omitted stays, a key set to null goes back to its default. A secret omitted (or sent back
    as the mask) is kept; a secret set to null is cleared. The kind cannot change."""

    name: Name | None = None
    connection_config: Config | None = None


class DataSource(BaseModel):
    id: UUID
    name: str
    type: str
    connection_config: dict[str, Any] = Field(description="Secret fields masked")
    tenant_id: UUID
    owner_id: UUID
    status: str
    schema_info: dict[str, Any] | None
    last_tested_at: datetime | None
    schema_refreshed_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: DataSourceRow, secret_fields: tuple[str, ...]) -> DataSource:
        """The source as ``row`` holds it, each of ``secret_fields`` masked (null when unset)."""
        config = dict(row.connection_config)
        for name in secret_fields:
            config[name] = MASK if name in row.secret_names else None
        return cls(
            id=row.id,
            name=row.name,
            type=row.type,
            connection_config=config,
            tenant_id=row.tenant_id,
            owner_id=row.owner_id,
            status=row.status,
            schema_info=row.schema_info,
            last_tested_at=row.last_tested_at,
            schema_refreshed_at=row.schema_refreshed_at,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class DataSourcePage(BaseModel):
    items: list[DataSource]
    next_cursor: str | None
