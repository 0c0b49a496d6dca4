"""Small pieces the use cases share: conflicts from unique violations, sessions, token pairs."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
from lookout_kit.errors import Conflict, Invalid

from lookout_identity import repository
from lookout_identity.components import Components
from lookout_identity.passwords import PasswordPolicyError
from lookout_identity.schemas import TokenResponse
from lookout_identity.service.shaping import permission_claims
from lookout_identity.tokens import issue_access_token, new_refresh_token

_CONFLICTS = {
    "tenants_slug_key": ("slug_taken", "a tenant with this slug exists"),
    "users_username_key": ("username_taken", "this username is taken"),
    "users_username_lower": ("username_taken", "this username is taken"),
    "users_email_key": ("email_taken", "this email is taken"),
    "users_email_lower": ("email_taken", "this email is taken"),
    "roles_tenant_id_name_key": ("role_name_taken", "a role with this name exists"),
}


def conflict_from(error: asyncpg.UniqueViolationError) -> Conflict:
    code, message = _CONFLICTS.get(
        getattr(error, "constraint_name", "") or "", ("conflict", "already exists")
    )
    return Conflict(message, code=code)


def policy_error(error: PasswordPolicyError) -> Invalid:
    return Invalid(str(error), code="weak_password")


def client_address(host: str | None) -> str | None:
    if host is None:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def now() -> datetime:
    return datetime.now(UTC)


async def start_session(
    conn: asyncpg.Connection,
    components: Components,
    *,
    tenant_id: UUID,
    user_id: UUID,
    address: str | None,
) -> tuple[UUID, str]:
    """A new session and its first refresh token (returned in clear once, stored hashed)."""
    settings = components.settings
    session_id = uuid4()
    await repository.insert_session(
        conn,
        session_id=session_id,
        tenant_id=tenant_id,
        user_id=user_id,
        client_address=address,
        expires_at=now() + timedelta(seconds=settings.session_max_age_s),
    )
    refresh_token = await add_refresh_token(conn, components, tenant_id, session_id)
    return session_id, refresh_token


async def add_refresh_token(
    conn: asyncpg.Connection, components: Components, tenant_id: UUID, session_id: UUID
) -> str:
    token, token_hash = new_refresh_token()
    await repository.insert_refresh_token(
        conn,
        token_hash=token_hash,
        session_id=session_id,
        tenant_id=tenant_id,
        expires_at=now() + timedelta(seconds=components.settings.refresh_token_ttl_s),
    )
    return token


async def access_token_for(
    conn: asyncpg.Connection,
    components: Components,
    *,
    tenant_id: UUID,
    user_id: UUID,
    role_id: UUID,
    session_id: str,
    via: str,
) -> str:
    permissions = permission_claims(await repository.list_permissions(conn, tenant_id, role_id))
    key = await components.keyring.active()
    return issue_access_token(
        key,
        components.settings,
        user_id=user_id,
        tenant_id=tenant_id,
        role_id=role_id,
        session_id=session_id,
        permissions=permissions,
        via=via,
    )


def token_pair(
    components: Components, access_token: str, refresh_token: str | None, session_id: str
) -> TokenResponse:
    return TokenResponse(
        access_token=access_token,
        expires_in=components.settings.access_token_ttl_s,
        refresh_token=refresh_token,
        session_id=session_id,
    )
