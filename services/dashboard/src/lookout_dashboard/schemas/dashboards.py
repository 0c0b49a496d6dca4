"""HTTP bodies of the dashboard API (dashboards, versions, grants, export), each built from a stored
row by its ``from_row`` classmethod."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lookout_dashboard.schemas.document import Component, Filter, Layout

if TYPE_CHECKING:
    import asyncpg

    from lookout_dashboard.repository.dashboards import DashboardRow

Name = Annotated[str, Field(min_length=1, max_length=255)]
Description = Annotated[str, Field(max_length=10_000)]
Tag = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s,][^,]*$")]
Permission = Literal["view", "edit", "share", "admin"]
SortKey = Literal["name", "-name", "updated_at", "-updated_at"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(item) for item in value)
    return False


class DashboardContent(_Body):
    """Everything a dashboard holds that is versioned."""

    name: Name
    description: Description | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    is_public: bool = False
    layout: Layout = Field(default_factory=Layout)
    components: list[Component] = Field(default_factory=list, max_length=200)
    filters: list[Filter] = Field(default_factory=list, max_length=50)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        # PostgreSQL's text and jsonb cannot hold U+0000: bad input (422), not a failed insert.
        if _holds_nul(data):
            raise ValueError("text may not contain the NUL character (U+0000)")
        return data

    @model_validator(mode="after")
    def _unique_tags(self) -> DashboardContent:
        self.tags = list(dict.fromkeys(self.tags))
        return self

    @classmethod
    def from_row(cls, row: DashboardRow) -> DashboardContent:
        return cls.model_validate(
            {
                "name": row.name,
                "description": row.description,
                "tags": row.tags,
                "is_public": row.is_public,
                "layout": row.layout,
                "components": row.components,
                "filters": row.filters or [],
            }
        )


class DashboardCreate(DashboardContent):
    pass


class DashboardUpdate(DashboardContent):
    """A full replacement based on ``version`` (or the ``If-Match`` header)."""

    version: int | None = Field(
        default=None, ge=1, le=2_147_483_647, description="The version it is based on"
    )


class RestoreRequest(_Body):
    version: int | None = Field(
        default=None, ge=1, le=2_147_483_647, description="The version it is based on"
    )


class Dashboard(BaseModel):
    id: UUID
    name: str
    description: str | None
    tenant_id: UUID
    owner_id: UUID
    tags: list[str]
    is_public: bool
    version: int
    layout: dict[str, Any]
    components: list[Any]
    filters: list[Any]
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    published: bool
    permission: Permission = Field(description="What the caller may do with it")

    @classmethod
    def from_row(cls, row: DashboardRow, permission: Permission) -> Dashboard:
        """The dashboard as ``row`` holds it, for a caller with ``permission`` on it."""
        return cls(
            **{**vars(row), "filters": row.filters or []},
            published=row.published_at is not None,
            permission=permission,
        )


class DashboardSummary(BaseModel):
    id: UUID
    name: str
    description: str | None
    owner_id: UUID
    tags: list[str]
    is_public: bool
    version: int
    updated_at: datetime
    published_at: datetime | None


class DashboardPage(BaseModel):
    items: list[DashboardSummary]
    next_cursor: str | None


class VersionSummary(BaseModel):
    version: int
    name: str
    created_by: UUID
    created_at: datetime


class Version(VersionSummary):
    description: str | None
    tags: list[str]
    is_public: bool
    layout: dict[str, Any]
    components: list[Any]
    filters: list[Any]

    @classmethod
    def from_row(cls, record: asyncpg.Record) -> Version:
        return cls(**{**dict(record), "filters": record["filters"] or []})


class GrantCreate(_Body):
    user_id: UUID | None = None
    role_id: UUID | None = None
    permission: Permission

    @model_validator(mode="after")
    def _one_grantee(self) -> GrantCreate:
        if (self.user_id is None) == (self.role_id is None):
            raise ValueError("give exactly one of user_id and role_id")
        return self


class Grant(BaseModel):
    id: UUID
    dashboard_id: UUID
    user_id: UUID | None
    role_id: UUID | None
    permission: Permission
    granted_by: UUID | None
    granted_at: datetime

    @classmethod
    def from_row(cls, record: asyncpg.Record) -> Grant:
        values = dict(record)
        values["permission"] = values.pop("permission_type")
        return cls(**values)


class ExportedDashboard(BaseModel):
    """One dashboard as a portable document (``format`` names this shape)."""

    format: Literal["lookout.dashboard/v1"] = "lookout.dashboard/v1"
    dashboard: DashboardContent


class DashboardImport(ExportedDashboard):
    """An exported document to create a dashboard from; saved queries may be mapped to new ids."""

    model_config = ConfigDict(extra="forbid")

    saved_query_ids: dict[UUID, UUID] = Field(
        default_factory=dict, max_length=1_000, description="old saved query id → new one"
    )
