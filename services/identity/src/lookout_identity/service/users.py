"""Users of the caller's tenant: create, list, read, update, deactivate, reactivate, delete; the
caller itself (``/me``) and its password."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from lookout_contracts.events import identity as events
from lookout_kit.auth.caller import Caller
from lookout_kit.auth.policy import can
from lookout_kit.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized

from lookout_identity import repository
from lookout_identity.auth import require
from lookout_identity.components import Components
from lookout_identity.events import publish
from lookout_identity.schemas import (
    MeOut,
    PasswordChange,
    RoleOut,
    TenantOut,
    UserCreate,
    UserOut,
    UserUpdate,
)


def _no_such_user() -> NotFound:
    return NotFound("no such user")


def _require_role_assignment(caller: Caller) -> None:
    # Choosing someone's role hands out its permissions: only who may administer roles may do it.
    if not can(caller, "admin", "role"):
        raise Forbidden("not allowed to assign roles", code="forbidden")


async def _role_in_tenant(conn: asyncpg.Connection, tenant_id: UUID, role_id: UUID) -> None:
    if await repository.roles.get_role(conn, tenant_id, role_id) is None:
        raise Invalid("no such role in this tenant", code="unknown_role")


async def _ensure_other_admin(
    conn: asyncpg.Connection, tenant_id: UUID, user: asyncpg.Record
) -> UUID | None:
    """The admin who remains when ``user`` stops being one; 409 when ``user`` is the last."""
    admin = await repository.roles.get_role_by_name(conn, tenant_id, "admin")
    if admin is None:
        return None
    if user["role_id"] != admin["id"]:
        return await repository.users.successor_admin(conn, tenant_id, admin["id"], user["id"])
    # Two admins removed at once must not each count the other as the one who remains: whoever
    # takes the lock second reads the first one's committed change (READ COMMITTED, a new statement).
    await repository.roles.hold_role_assignments(conn, tenant_id, admin["id"])
    successor = await repository.users.successor_admin(conn, tenant_id, admin["id"], user["id"])
    if successor is None:
        raise Conflict("the tenant's last active admin must stay", code="last_admin")
    return successor


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


async def me(components: Components, caller: Caller) -> MeOut:
    async with components.pool.acquire() as conn:
        user = await repository.users.get_user(conn, caller.tenant_id, caller.user_id)
        tenant = await repository.tenants.get_tenant(conn, caller.tenant_id)
        role = await repository.roles.get_role(conn, caller.tenant_id, caller.role_id)
        permissions = await repository.roles.list_permissions(
            conn, caller.tenant_id, caller.role_id
        )
    if user is None or tenant is None or role is None:
        raise _no_such_user()
    return MeOut(
        user=UserOut.from_row(user),
        tenant=TenantOut.from_row(tenant),
        role=RoleOut.from_row(role, permissions),
        session_id=caller.session_id,
    )


async def list_users(
    components: Components, caller: Caller, *, limit: int, offset: int
) -> list[UserOut]:
    require(caller, "read", "user")
    async with components.pool.acquire() as conn:
        rows = await repository.users.list_users(conn, caller.tenant_id, limit=limit, offset=offset)
    return [UserOut.from_row(row) for row in rows]


async def get_user(components: Components, caller: Caller, user_id: UUID) -> UserOut:
    async with components.pool.acquire() as conn:
        row = await repository.users.get_user(conn, caller.tenant_id, user_id)
    if row is None:
        raise _no_such_user()
    require(caller, "read", "user", object_id=user_id, owner_id=user_id)
    return UserOut.from_row(row)


async def create_user(components: Components, caller: Caller, body: UserCreate) -> UserOut:
    require(caller, "create", "user")
    _require_role_assignment(caller)
    components.passwords.check_policy(body.password, username=body.username, email=body.email)
    password_hash = await components.passwords.hash(body.password)
    async with components.pool.acquire() as conn, conn.transaction():
        await _role_in_tenant(conn, caller.tenant_id, body.role_id)
        row = await repository.users.insert_user(
            conn,
            tenant_id=caller.tenant_id,
            username=body.username,
            email=body.email,
            password_hash=password_hash,
            first_name=body.first_name,
            last_name=body.last_name,
            role_id=body.role_id,
        )
        await publish_user_created(conn, components, row, actor_id=caller.user_id)
    return UserOut.from_row(row)


async def update_user(
    components: Components, caller: Caller, user_id: UUID, body: UserUpdate
) -> UserOut:
    fields = body.model_dump(exclude_unset=True)
    async with components.pool.acquire() as conn, conn.transaction():
        current = await repository.users.lock_user(conn, caller.tenant_id, user_id)
        if current is None:
            raise _no_such_user()
        require(caller, "update", "user", object_id=user_id, owner_id=user_id)
        new = {
            name: fields[name] if fields.get(name) is not None else current[name]
            for name in ("username", "email", "role_id")
        }
        for name in ("first_name", "last_name"):
            new[name] = fields[name] if name in fields else current[name]
        changed = tuple(name for name in new if new[name] != current[name])
        if not changed:
            return UserOut.from_row(current)
        if "role_id" in changed:
            _require_role_assignment(caller)
            await _role_in_tenant(conn, caller.tenant_id, new["role_id"])
            await _ensure_other_admin(conn, caller.tenant_id, current)
        row = await repository.users.update_user(conn, caller.tenant_id, user_id, **new)
        assert row is not None
        await publish(
            conn,
            components.settings,
            "user.updated",
            tenant_id=caller.tenant_id,
            subject_id=user_id,
            actor_id=caller.user_id,
            session_id=caller.session_id,
            data=events.UserUpdatedV1(
                username=row["username"],
                email=row["email"],
                first_name=row["first_name"],
                last_name=row["last_name"],
                role_id=row["role_id"],
                changed_fields=changed,
            ),
        )
    return UserOut.from_row(row)


async def set_active(
    components: Components, caller: Caller, user_id: UUID, *, active: bool
) -> UserOut:
    async with components.pool.acquire() as conn, conn.transaction():
        current = await repository.users.lock_user(conn, caller.tenant_id, user_id)
        if current is None:
            raise _no_such_user()
        require(caller, "admin", "user", object_id=user_id)
        if current["is_active"] == active:
            return UserOut.from_row(current)
        if not active:
            await _ensure_other_admin(conn, caller.tenant_id, current)
        row = await repository.users.set_user_active(conn, caller.tenant_id, user_id, active)
        assert row is not None
        await publish(
            conn,
            components.settings,
            "user.reactivated" if active else "user.deactivated",
            tenant_id=caller.tenant_id,
            subject_id=user_id,
            actor_id=caller.user_id,
            session_id=caller.session_id,
            data=events.UserReactivatedV1() if active else events.UserDeactivatedV1(),
        )
    return UserOut.from_row(row)


async def delete_user(components: Components, caller: Caller, user_id: UUID) -> None:
    async with components.pool.acquire() as conn, conn.transaction():
        current = await repository.users.lock_user(conn, caller.tenant_id, user_id)
        if current is None:
            raise _no_such_user()
        require(caller, "delete", "user", object_id=user_id)
        successor = await _ensure_other_admin(conn, caller.tenant_id, current)
        await publish(
            conn,
            components.settings,
            "user.deleted",
            tenant_id=caller.tenant_id,
            subject_id=user_id,
            actor_id=caller.user_id,
            session_id=caller.session_id,
            data=events.UserDeletedV1(successor_id=successor),
        )
        await repository.users.delete_user(conn, caller.tenant_id, user_id)


async def change_password(components: Components, caller: Caller, body: PasswordChange) -> None:
    """Needs the old password; ends every other session of the user (they used the old one)."""
    async with components.pool.acquire() as conn:
        user = await repository.users.lock_user(conn, caller.tenant_id, caller.user_id)
    if user is None:
        raise Unauthorized("invalid or expired token", code="invalid_token")
    if not await components.passwords.verify(user["password_hash"], body.old_password):
        raise Unauthorized("the old password is wrong", code="invalid_credentials")
    components.passwords.check_policy(
        body.new_password, username=user["username"], email=user["email"]
    )
    new_hash = await components.passwords.hash(body.new_password)
    async with components.pool.acquire() as conn, conn.transaction():
        user = await repository.users.lock_user(conn, caller.tenant_id, caller.user_id)
        if user is None:
            raise Unauthorized("invalid or expired token", code="invalid_token")
        await repository.users.set_password_hash(conn, caller.tenant_id, caller.user_id, new_hash)
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
        ended = await repository.sessions.revoke_user_sessions(
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
