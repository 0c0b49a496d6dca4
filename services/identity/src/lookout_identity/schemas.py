"""Request and response bodies of identity's HTTP API, and how a row becomes a response.

Every string is bounded and free of control characters (PostgreSQL refuses NUL, and no name needs
a control character); a password or hash never appears in a response model (the models have no
such field, so ``from_row`` cannot copy one).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
from lookout_contracts.events.identity import Action, Resource
from lookout_kit.auth.conditions import Conditions
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, StringConstraints

NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"

Text = Annotated[str, StringConstraints(max_length=10_000, pattern=r"^[^\x00]*$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=NO_CONTROL)]
ShortName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NO_CONTROL)]
Slug = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"),
]
# No "@" in a username, so that a login name is unambiguously a username or an email.
Username = Annotated[
    str, StringConstraints(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
]
Email = Annotated[
    str,
    StringConstraints(
        min_length=3, max_length=255, pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$"
    ),
]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1_024, pattern=r"^[^\x00]*$")]
Credential = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=NO_CONTROL)]

MAX_SETTINGS_BYTES = 65_536


def _bounded_settings(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    encoded = json.dumps(value)
    if len(encoded) > MAX_SETTINGS_BYTES:
        raise ValueError(f"settings must be at most {MAX_SETTINGS_BYTES} bytes of JSON")
    if "\\u0000" in encoded:
        raise ValueError("settings must not contain NUL characters")
    return value


TenantSettings = Annotated[dict[str, JsonValue], AfterValidator(_bounded_settings)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Authentication ----------------------------------------------------------------------------------


class SignupRequest(Body):
    tenant_name: Name
    tenant_slug: Slug
    username: Username
    email: Email
    password: Password
    first_name: ShortName | None = None
    last_name: ShortName | None = None


class LoginRequest(Body):
    login: Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=NO_CONTROL)] = (
        Field(description="Username or email")
    )
    password: Password


class RefreshRequest(Body):
    refresh_token: Credential


class ApiKeyTokenRequest(Body):
    api_key: Credential


class ServiceTokenRequest(Body):
    service: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")
    ]
    secret: Credential
    tenant_id: UUID | None = None
    """The tenant the service acts for (the token carries it); none for platform calls."""


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str | None = Field(
        default=None, description="Shown once; spend it at /auth/refresh for a new pair"
    )
    session_id: str | None = None


class PasswordChange(Body):
    old_password: Password
    new_password: Password


# Tenants -----------------------------------------------------------------------------------------


class TenantOut(BaseModel):
    id: UUID
    name: str
    slug: str
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> TenantOut:
        return cls(
            id=row["id"],
            name=row["name"],
            slug=row["slug"],
            settings=row["settings"] or {},
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class TenantUpdate(Body):
    name: Name | None = None
    settings: TenantSettings | None = None


# Users -------------------------------------------------------------------------------------------


class UserOut(BaseModel):
    id: UUID
    tenant_id: UUID
    username: str
    email: str
    first_name: str | None
    last_name: str | None
    role_id: UUID
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> UserOut:
        return cls(
            id=row["id"],
            tenant_id=row["tenant_id"],
            username=row["username"],
            email=row["email"],
            first_name=row["first_name"],
            last_name=row["last_name"],
            role_id=row["role_id"],
            is_active=row["is_active"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            last_login_at=row["last_login_at"],
        )


class UserCreate(Body):
    username: Username
    email: Email
    password: Password
    first_name: ShortName | None = None
    last_name: ShortName | None = None
    role_id: UUID


class UserUpdate(Body):
    username: Username | None = None
    email: Email | None = None
    first_name: ShortName | None = None
    last_name: ShortName | None = None
    role_id: UUID | None = None


class SignupResponse(BaseModel):
    tenant: TenantOut
    user: UserOut
    tokens: TokenResponse


# Roles and permissions ---------------------------------------------------------------------------


class PermissionIn(Body):
    resource: Resource
    action: Action
    conditions: Conditions | None = Field(
        default=None, description="null: every object; see GET /condition-schema"
    )


class PermissionOut(BaseModel):
    id: UUID
    resource: str
    action: str
    conditions: dict[str, Any] | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> PermissionOut:
        return cls(
            id=row["id"],
            resource=row["resource"],
            action=row["action"],
            conditions=row["conditions"],
            created_at=row["created_at"],
        )


class RoleOut(BaseModel):
    id: UUID
    name: str
    description: str | None
    is_builtin: bool
    permissions: list[PermissionOut]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record, permissions: list[asyncpg.Record]) -> RoleOut:
        return cls(
            id=row["id"],
            name=row["name"],
            description=row["description"],
            is_builtin=row["is_builtin"],
            permissions=[PermissionOut.from_row(permission) for permission in permissions],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class RoleCreate(Body):
    name: ShortName
    description: Text | None = None
    permissions: list[PermissionIn] = Field(default_factory=list, max_length=200)


class RoleUpdate(Body):
    name: ShortName | None = None
    description: Text | None = None


class MeOut(BaseModel):
    user: UserOut
    tenant: TenantOut
    role: RoleOut
    session_id: str


# API keys ----------------------------------------------------------------------------------------


class ApiKeyCreate(Body):
    name: ShortName
    expires_in_days: int | None = Field(default=None, ge=1, le=3_650)


class ApiKeyOut(BaseModel):
    id: UUID
    name: str
    prefix: str = Field(description="The first characters of the key, to recognise it")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> ApiKeyOut:
        return cls(
            id=row["id"],
            name=row["name"],
            prefix=row["prefix"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            last_used_at=row["last_used_at"],
            revoked_at=row["revoked_at"],
        )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself: shown once, never again")
