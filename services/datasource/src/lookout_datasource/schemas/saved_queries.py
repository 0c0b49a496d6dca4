"""HTTP bodies of saved queries: their text, data source, typed parameters and visibility."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from lookout_datasource.schemas.parameters import Parameter, check_unique_names

if TYPE_CHECKING:
    from lookout_datasource.repository.saved_queries import SavedQueryRow

Name = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")]
# PostgreSQL's text refuses NUL: refused here as bad input, not met there as a server error.
Description = Annotated[str, Field(max_length=10_000, pattern=r"^[^\x00]*$")]
QueryText = Annotated[str, Field(min_length=1, max_length=100_000, pattern=r"^[^\x00]*$")]
Parameters = Annotated[list[Parameter], Field(max_length=100), AfterValidator(check_unique_names)]
Level = Literal["view", "edit", "admin"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SavedQueryCreate(_Body):
    name: Name
    description: Description | None = None
    query_text: QueryText
    data_source_id: UUID
    parameters: Parameters = Field(default_factory=list)
    is_public: bool = False


class SavedQueryUpdate(_Body):
    """A partial update: the fields given replace the stored ones (``parameters`` as a whole)."""

    name: Name | None = None
    description: Description | None = None
    query_text: QueryText | None = None
    data_source_id: UUID | None = None
    parameters: Parameters | None = None
    is_public: bool | None = None


class SavedQuery(BaseModel):
    id: UUID
    name: str
    description: str | None
    query_text: str
    data_source_id: UUID
    owner_id: UUID = Field(description="The user who owns it (the seed's user_id)")
    tenant_id: UUID
    parameters: list[Parameter]
    is_public: bool
    version: int
    created_at: datetime
    updated_at: datetime
    permission: Level = Field(description="What the caller may do with it")

    @classmethod
    def from_row(cls, row: SavedQueryRow, permission: Level) -> SavedQuery:
        return cls(
            id=row.id,
            name=row.name,
            description=row.description,
            query_text=row.query_text,
            data_source_id=row.data_source_id,
            owner_id=row.user_id,
            tenant_id=row.tenant_id,
            parameters=[Parameter.model_validate(p) for p in row.parameters or []],
            is_public=row.is_public,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            permission=permission,
        )


class SavedQuerySummary(BaseModel):
    id: UUID
    name: str
    description: str | None
    data_source_id: UUID
    owner_id: UUID
    is_public: bool
    version: int
    updated_at: datetime

    @classmethod
    def from_row(cls, row: SavedQueryRow) -> SavedQuerySummary:
        return cls(
            id=row.id,
            name=row.name,
            description=row.description,
            data_source_id=row.data_source_id,
            owner_id=row.user_id,
            is_public=row.is_public,
            version=row.version,
            updated_at=row.updated_at,
        )


class SavedQueryPage(BaseModel):
    items: list[SavedQuerySummary]
    next_cursor: str | None
