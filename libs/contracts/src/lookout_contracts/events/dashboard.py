"""Event data published by the dashboard service (subject: the dashboard).

Events carry a dashboard's small public state, never its layout, components or filters: a consumer
that needs those asks the dashboard service's API.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from lookout_contracts.events.base import EventData, Name, Tag, Version

GranteeType = Literal["user", "role"]
DashboardPermission = Literal["view", "edit", "share", "admin"]
DashboardField = Literal[
    "name", "description", "layout", "components", "filters", "tags", "is_public", "owner_id"
]


class DashboardCreatedV1(EventData):
    """A dashboard was created (or imported) as a draft at ``version``."""

    name: Name
    owner_id: UUID
    is_public: bool
    tags: tuple[Tag, ...] = Field(max_length=100)
    version: Version


class DashboardUpdatedV1(EventData):
    """A dashboard changed and is now at ``version``; carries its new small state."""

    name: Name
    owner_id: UUID
    is_public: bool
    tags: tuple[Tag, ...] = Field(max_length=100)
    version: Version
    changed_fields: tuple[DashboardField, ...] = Field(min_length=1)


class DashboardPublishedV1(EventData):
    """A dashboard was published at ``published_at``; ``version`` is the published version."""

    version: Version
    published_at: AwareDatetime


class DashboardUnpublishedV1(EventData):
    """A published dashboard went back to draft."""

    version: Version


class DashboardRestoredV1(EventData):
    """An old version was restored as the new ``version``."""

    version: Version
    restored_from_version: Version


class DashboardDeletedV1(EventData):
    """A dashboard was deleted."""


class DashboardViewedV1(EventData):
    """Somebody (the envelope's actor, in the envelope's session) opened the dashboard."""

    version: Version


class DashboardSharedV1(EventData):
    """A per-dashboard grant was given to a user or a role."""

    grant_id: UUID
    grantee_type: GranteeType
    grantee_id: UUID
    permission: DashboardPermission


class DashboardUnsharedV1(EventData):
    """A per-dashboard grant was removed."""

    grant_id: UUID
    grantee_type: GranteeType
    grantee_id: UUID
    permission: DashboardPermission
