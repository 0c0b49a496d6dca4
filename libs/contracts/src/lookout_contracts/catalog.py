"""The catalog of event types: every (type, version) with its data model and subject, by source.

Adding an event type or a version is adding one ``declare(...)`` line here (see the README).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from lookout_contracts.events import alert, dashboard, datasource, identity
from lookout_contracts.events.base import EventData


@dataclass(frozen=True, slots=True)
class EventDeclaration:
    """One line of the table: an event type at a version, its data model and its subject type."""

    type: str
    version: int
    data_model: builtins.type[EventData]
    subject_type: str
    session_required: bool = False


def declare(
    event_type: str,
    version: int,
    data_model: type[EventData],
    *,
    subject: str,
    session_required: bool = False,
) -> EventDeclaration:
    """Declare ``event_type`` at ``version``; ``session_required``: ``session_id`` is mandatory."""
    return EventDeclaration(event_type, version, data_model, subject, session_required)


# By publishing service: its topic is ``<source>.events``.
DECLARATIONS: Final[Mapping[str, tuple[EventDeclaration, ...]]] = {
    "identity": (
        declare("tenant.created", 1, identity.TenantCreatedV1, subject="tenant"),
        declare("tenant.updated", 1, identity.TenantUpdatedV1, subject="tenant"),
        declare("tenant.deleted", 1, identity.TenantDeletedV1, subject="tenant"),
        declare("user.created", 1, identity.UserCreatedV1, subject="user"),
        declare("user.updated", 1, identity.UserUpdatedV1, subject="user"),
        declare("user.deactivated", 1, identity.UserDeactivatedV1, subject="user"),
        declare("user.reactivated", 1, identity.UserReactivatedV1, subject="user"),
        declare("user.deleted", 1, identity.UserDeletedV1, subject="user"),
        declare(
            "user.logged_in", 1, identity.UserLoggedInV1, subject="user", session_required=True
        ),
        declare(
            "user.logged_out", 1, identity.UserLoggedOutV1, subject="user", session_required=True
        ),
        declare("user.login_failed", 1, identity.UserLoginFailedV1, subject="user"),
        declare("role.created", 1, identity.RoleCreatedV1, subject="role"),
        declare("role.updated", 1, identity.RoleUpdatedV1, subject="role"),
        declare("role.deleted", 1, identity.RoleDeletedV1, subject="role"),
        declare("permission.granted", 1, identity.PermissionGrantedV1, subject="role"),
        declare("permission.revoked", 1, identity.PermissionRevokedV1, subject="role"),
        declare("api_key.created", 1, identity.ApiKeyCreatedV1, subject="api_key"),
        declare("api_key.revoked", 1, identity.ApiKeyRevokedV1, subject="api_key"),
        declare("service_tokens.revoked", 1, identity.ServiceTokensRevokedV1, subject="service"),
    ),
    "dashboard": (
        declare("dashboard.created", 1, dashboard.DashboardCreatedV1, subject="dashboard"),
        declare("dashboard.updated", 1, dashboard.DashboardUpdatedV1, subject="dashboard"),
        declare("dashboard.published", 1, dashboard.DashboardPublishedV1, subject="dashboard"),
        declare("dashboard.unpublished", 1, dashboard.DashboardUnpublishedV1, subject="dashboard"),
        declare("dashboard.restored", 1, dashboard.DashboardRestoredV1, subject="dashboard"),
        declare("dashboard.deleted", 1, dashboard.DashboardDeletedV1, subject="dashboard"),
        declare("dashboard.viewed", 1, dashboard.DashboardViewedV1, subject="dashboard"),
        declare("dashboard.shared", 1, dashboard.DashboardSharedV1, subject="dashboard"),
        declare("dashboard.unshared", 1, dashboard.DashboardUnsharedV1, subject="dashboard"),
    ),
    "datasource": (
        declare("data_source.created", 1, datasource.DataSourceCreatedV1, subject="data_source"),
        declare("data_source.updated", 1, datasource.DataSourceUpdatedV1, subject="data_source"),
        declare("data_source.deleted", 1, datasource.DataSourceDeletedV1, subject="data_source"),
        declare("data_source.tested", 1, datasource.DataSourceTestedV1, subject="data_source"),
        declare(
            "data_source.schema_refreshed",
            1,
            datasource.DataSourceSchemaRefreshedV1,
            subject="data_source",
        ),
        declare("saved_query.created", 1, datasource.SavedQueryCreatedV1, subject="saved_query"),
        declare("saved_query.updated", 1, datasource.SavedQueryUpdatedV1, subject="saved_query"),
        declare("saved_query.deleted", 1, datasource.SavedQueryDeletedV1, subject="saved_query"),
        declare("query.executed", 1, datasource.QueryExecutedV1, subject="query"),
    ),
    "alert": (
        declare("alert.created", 1, alert.AlertCreatedV1, subject="alert"),
        declare("alert.updated", 1, alert.AlertUpdatedV1, subject="alert"),
        declare("alert.deleted", 1, alert.AlertDeletedV1, subject="alert"),
        declare("alert.triggered", 1, alert.AlertTriggeredV1, subject="alert"),
        declare("alert.resolved", 1, alert.AlertResolvedV1, subject="alert"),
        declare("alert.errored", 1, alert.AlertErroredV1, subject="alert"),
        declare("alert.notification_sent", 1, alert.AlertNotificationSentV1, subject="alert"),
        declare("alert.notification_failed", 1, alert.AlertNotificationFailedV1, subject="alert"),
    ),
}
