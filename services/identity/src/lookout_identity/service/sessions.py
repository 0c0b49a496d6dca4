"""Sessions: login, the tokens of a session (access, rotating refresh), refresh, logout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
from lookout_contracts.events import identity as events
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import Conflict, Unauthorized

from lookout_identity import repository
from lookout_identity.components import Components
from lookout_identity.events import publish
from lookout_identity.schemas import TokenResponse
from lookout_identity.service import login_throttle
from lookout_identity.tokens import (
    hash_secret,
    issue_access_token,
    new_refresh_token,
    permission_claims,
)

WRONG_CREDENTIALS = "invalid login or password"


def _wrong_credentials() -> Unauthorized:
    # One message for an unknown login, a wrong password and an inactive user: which part was
    # wrong is not the caller's business.
    return Unauthorized(WRONG_CREDENTIALS, code="invalid_credentials")


def _invalid_refresh() -> Unauthorized:
    return Unauthorized("invalid or expired refresh token", code="invalid_refresh_token")


def token_pair(
    components: Components, access_token: str, refresh_token: str | None, session_id: str
) -> TokenResponse:
    return TokenResponse(
        access_token=access_token,
        expires_in=components.settings.access_token_ttl_s,
        refresh_token=refresh_token,
        session_id=session_id,
    )


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
    """A signed access token carrying the role's permissions as they are now."""
    permissions = permission_claims(
        await repository.roles.list_permissions(conn, tenant_id, role_id)
    )
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


async def add_refresh_token(
    conn: asyncpg.Connection, components: Components, tenant_id: UUID, session_id: UUID
) -> str:
    """A new refresh token of the session (returned in clear once, stored hashed)."""
    token, token_hash = new_refresh_token()
    await repository.sessions.insert_refresh_token(
        conn,
        token_hash=token_hash,
        session_id=session_id,
        tenant_id=tenant_id,
        expires_at=datetime.now(UTC) + timedelta(seconds=components.settings.refresh_token_ttl_s),
    )
    return token


async def start_session(
    conn: asyncpg.Connection,
    components: Components,
    *,
    tenant_id: UUID,
    user_id: UUID,
    address: str | None,
) -> tuple[UUID, str]:
    """A new session and its first refresh token (returned in clear once, stored hashed)."""
    session_id = uuid4()
    await repository.sessions.insert_session(
        conn,
        session_id=session_id,
        tenant_id=tenant_id,
        user_id=user_id,
        client_address=address,
        expires_at=datetime.now(UTC) + timedelta(seconds=components.settings.session_max_age_s),
    )
    refresh_token = await add_refresh_token(conn, components, tenant_id, session_id)
    return session_id, refresh_token


async def log_in(
    conn: asyncpg.Connection,
    components: Components,
    tenant_id: UUID,
    user_id: UUID,
    role_id: UUID,
    address: str | None,
) -> tuple[UUID, str, str]:
    """A new password session for the user: session, last login, ``user.logged_in`` and an access
    token; returns (session id, refresh token, access token)."""
    session_id, refresh_token = await start_session(
        conn, components, tenant_id=tenant_id, user_id=user_id, address=address
    )
    await repository.users.record_login(conn, tenant_id, user_id)
    await publish(
        conn,
        components.settings,
        "user.logged_in",
        tenant_id=tenant_id,
        subject_id=user_id,
        actor_id=user_id,
        session_id=str(session_id),
        data=events.UserLoggedInV1(method="password", client_address=address),
    )
    access_token = await access_token_for(
        conn,
        components,
        tenant_id=tenant_id,
        user_id=user_id,
        role_id=role_id,
        session_id=str(session_id),
        via="password",
    )
    return session_id, refresh_token, access_token


async def login(
    components: Components, login_name: str, password: str, address: str | None
) -> TokenResponse:
    async with components.pool.acquire() as conn:
        user = await repository.users.find_login(conn, login_name)
        remaining = await repository.login_throttle.throttle_remaining_s(
            conn, login_throttle.throttle_keys(user, address)
        )
    if remaining > 0:
        await login_throttle.refuse_throttled(components, user, address, remaining)
    matches = await components.passwords.verify(
        None if user is None else user["password_hash"], password
    )
    if not matches or user is None or not user["is_active"]:
        reason = "invalid_credentials" if not matches else "user_inactive"
        await login_throttle.record_failed_login(components, user, address, reason)
        raise _wrong_credentials()
    tenant_id: UUID = user["tenant_id"]
    new_hash = (
        await components.passwords.hash(password)
        if components.passwords.needs_rehash(user["password_hash"])
        else None
    )
    async with components.pool.acquire() as conn, conn.transaction():
        if new_hash is not None:
            await repository.users.set_password_hash(conn, tenant_id, user["id"], new_hash)
        await repository.login_throttle.clear_throttle(conn, f"account:{user['id']}")
        session_id, refresh_token, access_token = await log_in(
            conn, components, tenant_id, user["id"], user["role_id"], address
        )
    return token_pair(components, access_token, refresh_token, str(session_id))


async def end_session(
    conn: asyncpg.Connection,
    components: Components,
    tenant_id: UUID,
    session_id: UUID,
    reason: str,
    *,
    actor_id: UUID | None,
) -> bool:
    """Revoke the session (if still active) and publish ``user.logged_out``."""
    ended = await repository.sessions.revoke_session(conn, tenant_id, session_id, reason)
    if ended is None:
        return False
    await publish(
        conn,
        components.settings,
        "user.logged_out",
        tenant_id=tenant_id,
        subject_id=ended["user_id"],
        actor_id=actor_id,
        session_id=str(session_id),
        data=events.UserLoggedOutV1(reason=reason),
    )
    return True


async def refresh(components: Components, refresh_token: str) -> TokenResponse:
    """Spend a refresh token for a new pair; a spent token's reuse revokes its whole session."""
    reused = False
    async with components.pool.acquire() as conn, conn.transaction():
        spent = await repository.sessions.spend_refresh_token(conn, hash_secret(refresh_token))
        if spent is None:
            raise _invalid_refresh()
        tenant_id: UUID = spent["tenant_id"]
        session_id: UUID = spent["session_id"]
        if spent["was_spent"]:
            # Someone holds a copy of a spent token: end the session for everyone who has it.
            await end_session(
                conn, components, tenant_id, session_id, "refresh_token_reuse", actor_id=None
            )
            reused = True
        else:
            session = await repository.sessions.get_session_user(conn, tenant_id, session_id)
            now = datetime.now(UTC)
            if (
                session is None
                or spent["expires_at"] <= now
                or session["revoked_at"] is not None
                or session["expires_at"] <= now
                or not session["is_active"]
            ):
                raise _invalid_refresh()
            new_refresh = await add_refresh_token(conn, components, tenant_id, session_id)
            access_token = await access_token_for(
                conn,
                components,
                tenant_id=tenant_id,
                user_id=session["id"],
                role_id=session["role_id"],
                session_id=str(session_id),
                via="password",
            )
    if reused:
        raise _invalid_refresh()
    return token_pair(components, access_token, new_refresh, str(session_id))


async def logout(components: Components, caller: Caller) -> None:
    """End the caller's session. A token from an API key has none (its session id is the key's):
    409 instead of a 204 that would end nothing, the key is what refuses its tokens."""
    async with components.pool.acquire() as conn, conn.transaction():
        session_id = UUID(caller.session_id)
        ended = await end_session(
            conn, components, caller.tenant_id, session_id, "logout", actor_id=caller.user_id
        )
        if not ended and await repository.api_keys.get_api_key(
            conn, caller.tenant_id, caller.user_id, session_id
        ):
            raise Conflict(
                "a token from an API key has no session to log out of: revoke the key "
                "(DELETE /api-keys/{id}) to refuse its tokens",
                code="api_key_token",
            )
