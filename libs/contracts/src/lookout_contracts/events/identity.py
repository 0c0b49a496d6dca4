"""Event data published by the identity service: tenants, users, sessions, roles, API keys.

No identity event ever carries a password, a password hash, a refresh token, an API key's secret
or its hash, or a signing key.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, IPvAnyAddress, JsonValue, StringConstraints

from lookout_contracts.events.base import Description, EventData, Name, ShortName

Slug = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"),
]
Email = Annotated[
    str, StringConstraints(min_length=3, max_length=255, pattern=r"^[^@\s]+@[^@\s]+$")
]

Resource = Literal[
    "tenant", "user", "role", "dashboard", "data_source", "saved_query", "alert", "analytics"
]
"""What a permission applies to."""

Action = Literal["read", "create", "update", "delete", "share", "execute", "admin"]
"""What a permission allows on its resource."""


# Tenants (subject: the tenant) -------------------------------------------------------------------


class TenantCreatedV1(EventData):
    """A tenant signed up. Its first admin follows as ``user.created``."""

    name: Name
    slug: Slug


class TenantUpdatedV1(EventData):
    """A tenant's name or settings changed. Carries the new name; settings stay in identity."""

    name: Name
    changed_fields: tuple[Literal["name", "settings"], ...] = Field(min_length=1)


class TenantDeletedV1(EventData):
    """A tenant was deleted: every service removes that tenant's data when it sees this."""


# Users (subject: the user) -----------------------------------------------------------------------


class UserCreatedV1(EventData):
    """A user was created in the tenant. Never carries the password or its hash."""

    username: Name
    email: Email
    first_name: ShortName | None
    last_name: ShortName | None
    role_id: UUID
    is_active: bool


class UserUpdatedV1(EventData):
    """A user's profile, role or password changed; carries the user's new public state.

    ``"password"`` in ``changed_fields`` says only that the password changed: neither the password
    nor its hash is ever in an event.
    """

    username: Name
    email: Email
    first_name: ShortName | None
    last_name: ShortName | None
    role_id: UUID
    changed_fields: tuple[
        Literal["username", "email", "first_name", "last_name", "role_id", "password"], ...
    ] = Field(min_length=1)


class UserDeactivatedV1(EventData):
    """A user was deactivated: every service refuses the user's tokens from now on."""


class UserReactivatedV1(EventData):
    """A deactivated user was reactivated."""


class UserDeletedV1(EventData):
    """A user was deleted.

    ``successor_id`` is the tenant admin who inherits the user's objects (dashboards, saved
    queries, alerts); null when there is none (e.g. the tenant itself is being deleted).
    """

    successor_id: UUID | None


# Sessions (subject: the user; the envelope's session_id is the session) --------------------------


class UserLoggedInV1(EventData):
    """A user logged in and a session started (the envelope's ``session_id``)."""

    method: Literal["password"]
    client_address: IPvAnyAddress | None


class UserLoggedOutV1(EventData):
    """A session ended (the envelope's ``session_id``): its tokens are refused from now on.

    ``reason``: ``logout`` (the user logged out), ``revoked`` (an admin or a password change ended
    it), ``refresh_token_reuse`` (a spent refresh token was presented, so the session was revoked).
    """

    reason: Literal["logout", "revoked", "refresh_token_reuse"]


class UserLoginFailedV1(EventData):
    """A login attempt on an existing user failed.

    Attempts naming no existing user are not events (there is no tenant to file them under).
    Never carries the password that was tried.
    """

    reason: Literal["invalid_credentials", "user_inactive", "throttled"]
    client_address: IPvAnyAddress | None


# Roles and their permissions (subject: the role) -------------------------------------------------


class RoleCreatedV1(EventData):
    """A role was created (``is_builtin``: a new tenant's ``admin``, ``editor`` or ``viewer``)."""

    name: ShortName
    description: Description | None
    is_builtin: bool


class RoleUpdatedV1(EventData):
    """A role's name or description changed; carries the new values."""

    name: ShortName
    description: Description | None
    changed_fields: tuple[Literal["name", "description"], ...] = Field(min_length=1)


class RoleDeletedV1(EventData):
    """A role was deleted: grants made to it are removed everywhere."""


class PermissionGrantedV1(EventData):
    """A permission was added to the role (the subject).

    ``conditions`` is a document of identity's condition language (see identity's docs), or null
    for an unconditional permission.
    """

    permission_id: UUID
    resource: Resource
    action: Action
    conditions: dict[str, JsonValue] | None


class PermissionRevokedV1(EventData):
    """A permission was removed from the role (the subject)."""

    permission_id: UUID
    resource: Resource
    action: Action


# API keys (subject: the API key) -----------------------------------------------------------------


class ApiKeyCreatedV1(EventData):
    """An API key was created for a user. Never carries the key, a part of it, or its hash."""

    user_id: UUID
    name: ShortName
    expires_at: AwareDatetime | None


ServiceName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")
]


class ServiceTokensRevokedV1(EventData):
    """Every service token of ``service`` issued before this event is refused from now on: its
    credentials leaked or were rotated. Tokens issued after it (with the new credentials) are
    valid. A platform event: ``tenant_id`` is the zero UUID; the subject is the service client,
    whose id is ``uuid5(NAMESPACE_URL, "lookout:service:<service>")``."""

    service: ServiceName
    reason: Description | None = None


class ApiKeyRevokedV1(EventData):
    """An API key was revoked: it is refused from now on."""

    user_id: UUID
