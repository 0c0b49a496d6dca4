"""Sign-up, login, refresh, logout, password change, API-key and service tokens."""

from __future__ import annotations

import hmac
import math
from uuid import UUID

import asyncpg
from lookout_contracts.events import identity as events
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import TooManyRequests, Unauthorized

from lookout_identity import repository
from lookout_identity.builtin_roles import BUILTIN_ROLES
from lookout_identity.components import Components
from lookout_identity.events import publish
from lookout_identity.passwords import PasswordPolicyError
from lookout_identity.schemas import (
    PasswordChange,
    SignupRequest,
    SignupResponse,
    TokenResponse,
)
from lookout_identity.service.common import (
    access_token_for,
    add_refresh_token,
    conflict_from,
    now,
    policy_error,
    start_session,
    token_pair,
)
from lookout_identity.service.shaping import tenant_out, user_out
from lookout_identity.tokens import hash_secret, issue_service_token

WRONG_CREDENTIALS = "invalid login or password"


def _wrong_credentials() -> Unauthorized:
    # One message for an unknown login, a wrong password and an inactive user: which part was
    # wrong is not the caller's business.
    return Unauthorized(WRONG_CREDENTIALS, code="invalid_credentials")


async def signup(
    components: Components, body: SignupRequest, address: str | None
) -> SignupResponse:
    """A new tenant, its built-in roles and its first admin, logged in: one transaction."""
    try:
        components.passwords.check_policy(body.password, username=body.username, email=body.email)
    except PasswordPolicyError as error:
        raise policy_error(error) from None
    password_hash = await components.passwords.hash(body.password)
    settings = components.settings
    try:
        async with components.pool.acquire() as conn, conn.transaction():
            tenant = await repository.insert_tenant(conn, body.tenant_name, body.tenant_slug, {})
            tenant_id: UUID = tenant["id"]
            await publish(
                conn,
                settings,
                "tenant.created",
                tenant_id=tenant_id,
                subject_id=tenant_id,
                data=events.TenantCreatedV1(name=tenant["name"], slug=tenant["slug"]),
            )
            roles = await create_builtin_roles(conn, components, tenant_id)
            user = await repository.insert_user(
                conn,
                tenant_id=tenant_id,
                username=body.username,
                email=body.email,
                password_hash=password_hash,
                first_name=body.first_name,
                last_name=body.last_name,
                role_id=roles["admin"],
            )
            await publish_user_created(conn, components, user, actor_id=None)
            session_id, refresh_token, access_token = await log_in(
                conn, components, tenant_id, user["id"], roles["admin"], address
            )
    except asyncpg.UniqueViolationError as error:
        raise conflict_from(error) from None
    return SignupResponse(
        tenant=tenant_out(tenant),
        user=user_out(user),
        tokens=token_pair(components, access_token, refresh_token, str(session_id)),
    )


async def create_builtin_roles(
    conn: asyncpg.Connection, components: Components, tenant_id: UUID
) -> dict[str, UUID]:
    ids: dict[str, UUID] = {}
    for name, (description, grants) in BUILTIN_ROLES.items():
        role = await repository.insert_role(conn, tenant_id, name, description, is_builtin=True)
        ids[name] = role["id"]
        await publish(
            conn,
            components.settings,
            "role.created",
            tenant_id=tenant_id,
            subject_id=role["id"],
            data=events.RoleCreatedV1(name=name, description=description, is_builtin=True),
        )
        for resource, action, conditions in grants:
            permission = await repository.insert_permission(
                conn, tenant_id, role["id"], resource, action, conditions
            )
            await publish(
                conn,
                components.settings,
                "permission.granted",
                tenant_id=tenant_id,
                subject_id=role["id"],
                data=events.PermissionGrantedV1(
                    permission_id=permission["id"],
                    resource=resource,
                    action=action,
                    conditions=conditions,
                ),
            )
    return ids


async def publish_user_created(
    conn: asyncpg.Connection,
    components: Components,
    user: asyncpg.Record,
    *,
    actor_id: UUID | None,
) -> None:
    await publish(
        conn,
        components.settings,
        "user.created",
        tenant_id=user["tenant_id"],
        subject_id=user["id"],
        actor_id=actor_id,
        data=events.UserCreatedV1(
            username=user["username"],
            email=user["email"],
            first_name=user["first_name"],
            last_name=user["last_name"],
            role_id=user["role_id"],
            is_active=user["is_active"],
        ),
    )


# Login and throttling ----------------------------------------------------------------------------


def _throttle_keys(user: asyncpg.Record | None, address: str | None) -> list[str]:
    keys = []
    if user is not None:
        keys.append(f"account:{user['id']}")
    if address is not None:
        keys.append(f"address:{address}")
    return keys


async def _record_failed_login(
    components: Components,
    user: asyncpg.Record | None,
    address: str | None,
    reason: str,
) -> None:
    settings = components.settings
    async with components.pool.acquire() as conn, conn.transaction():
        thresholds = []
        if user is not None:
            thresholds.append((f"account:{user['id']}", settings.throttle_account_threshold))
        if address is not None:
            thresholds.append((f"address:{address}", settings.throttle_address_threshold))
        for key, threshold in thresholds:
            failures = await repository.record_failure(conn, key, settings.throttle_window_s)
            if failures >= threshold:
                # Each failure past the threshold doubles the lock, up to the maximum.
                lock_s = min(
                    settings.throttle_base_lock_s * 2 ** min(failures - threshold, 20),
                    settings.throttle_max_lock_s,
                )
                await repository.lock_throttle_key(conn, key, lock_s)
        if user is not None:
            await publish(
                conn,
                settings,
                "user.login_failed",
                tenant_id=user["tenant_id"],
                subject_id=user["id"],
                data=events.UserLoginFailedV1(reason=reason, client_address=address),
            )


async def login(
    components: Components, login_name: str, password: str, address: str | None
) -> TokenResponse:
    async with components.pool.acquire() as conn:
        user = await repository.find_login(conn, login_name)
        remaining = await repository.throttle_remaining_s(conn, _throttle_keys(user, address))
    if remaining > 0:
        if user is not None:
            async with components.pool.acquire() as conn, conn.transaction():
                await publish(
                    conn,
                    components.settings,
                    "user.login_failed",
                    tenant_id=user["tenant_id"],
                    subject_id=user["id"],
                    data=events.UserLoginFailedV1(reason="throttled", client_address=address),
                )
        raise TooManyRequests(
            "too many failed logins; try again later",
            details={"retry_after_s": max(1, math.ceil(remaining))},
        )
    matches = await components.passwords.verify(
        None if user is None else user["password_hash"], password
    )
    if not matches or user is None or not user["is_active"]:
        reason = "invalid_credentials" if not matches else "user_inactive"
        await _record_failed_login(components, user, address, reason)
        raise _wrong_credentials()
    tenant_id: UUID = user["tenant_id"]
    new_hash = (
        await components.passwords.hash(password)
        if components.passwords.needs_rehash(user["password_hash"])
        else None
    )
    async with components.pool.acquire() as conn, conn.transaction():
        if new_hash is not None:
            await repository.set_password_hash(conn, tenant_id, user["id"], new_hash)
        await repository.clear_throttle(conn, f"account:{user['id']}")
        session_id, refresh_token, access_token = await log_in(
            conn, components, tenant_id, user["id"], user["role_id"], address
        )
    return token_pair(components, access_token, refresh_token, str(session_id))


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
    await repository.record_login(conn, tenant_id, user_id)
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


# Refresh and logout ------------------------------------------------------------------------------


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
    ended = await repository.revoke_session(conn, tenant_id, session_id, reason)
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
        spent = await repository.spend_refresh_token(conn, hash_secret(refresh_token))
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
            session = await repository.get_session_user(conn, tenant_id, session_id)
            if (
                session is None
                or spent["expires_at"] <= now()
                or session["revoked_at"] is not None
                or session["expires_at"] <= now()
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


def _invalid_refresh() -> Unauthorized:
    return Unauthorized("invalid or expired refresh token", code="invalid_refresh_token")


async def logout(components: Components, caller: Caller) -> None:
    async with components.pool.acquire() as conn, conn.transaction():
        await end_session(
            conn,
            components,
            caller.tenant_id,
            UUID(caller.session_id),
            "logout",
            actor_id=caller.user_id,
        )


async def change_password(components: Components, caller: Caller, body: PasswordChange) -> None:
    """Needs the old password; ends every other session of the user (they used the old one)."""
    async with components.pool.acquire() as conn:
        user = await repository.lock_user(conn, caller.tenant_id, caller.user_id)
    if user is None:
        raise Unauthorized("invalid or expired token", code="invalid_token")
    if not await components.passwords.verify(user["password_hash"], body.old_password):
        raise Unauthorized("the old password is wrong", code="invalid_credentials")
    try:
        components.passwords.check_policy(
            body.new_password, username=user["username"], email=user["email"]
        )
    except PasswordPolicyError as error:
        raise policy_error(error) from None
    new_hash = await components.passwords.hash(body.new_password)
    async with components.pool.acquire() as conn, conn.transaction():
        user = await repository.lock_user(conn, caller.tenant_id, caller.user_id)
        if user is None:
            raise Unauthorized("invalid or expired token", code="invalid_token")
        await repository.set_password_hash(conn, caller.tenant_id, caller.user_id, new_hash)
        await publish(
            conn,
            components.settings,
            "user.updated",
            tenant_id=caller.tenant_id,
            subject_id=caller.user_id,
            actor_id=caller.user_id,
            session_id=caller.session_id,
            data=events.UserUpdatedV1(
                username=user["username"],
                email=user["email"],
                first_name=user["first_name"],
                last_name=user["last_name"],
                role_id=user["role_id"],
                changed_fields=("password",),
            ),
        )
        keep = None if caller.session_id is None else _uuid_or_none(caller.session_id)
        ended = await repository.revoke_user_sessions(
            conn, caller.tenant_id, caller.user_id, "revoked", keep=keep
        )
        for session_id in ended:
            await publish(
                conn,
                components.settings,
                "user.logged_out",
                tenant_id=caller.tenant_id,
                subject_id=caller.user_id,
                actor_id=caller.user_id,
                session_id=str(session_id),
                data=events.UserLoggedOutV1(reason="revoked"),
            )


def _uuid_or_none(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


# Machine tokens ----------------------------------------------------------------------------------


async def api_key_token(components: Components, api_key: str) -> TokenResponse:
    """A short-lived access token for an API key (its session id is the key's id)."""
    async with components.pool.acquire() as conn:
        key = await repository.use_api_key(conn, hash_secret(api_key))
        user = (
            None
            if key is None
            else await repository.get_user(conn, key["tenant_id"], key["user_id"])
        )
        if key is None or user is None or not user["is_active"]:
            raise Unauthorized("invalid API key", code="invalid_api_key")
        access_token = await access_token_for(
            conn,
            components,
            tenant_id=key["tenant_id"],
            user_id=user["id"],
            role_id=user["role_id"],
            session_id=str(key["id"]),
            via="api_key",
        )
    return token_pair(components, access_token, None, str(key["id"]))


async def service_token(components: Components, service: str, secret: str) -> TokenResponse:
    expected = components.settings.service_clients.get(service)
    # compare_digest either way, so that an unknown service costs the same as a wrong secret.
    reference = expected.get_secret_value() if expected is not None else "no such service client"
    if not hmac.compare_digest(reference.encode(), secret.encode()) or expected is None:
        raise Unauthorized("invalid service credentials", code="invalid_client")
    key = await components.keyring.active()
    return TokenResponse(
        access_token=issue_service_token(key, components.settings, service),
        expires_in=components.settings.service_token_ttl_s,
    )
