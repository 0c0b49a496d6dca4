"""Roles of the caller's tenant and their permissions. Built-in roles are read-only."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from lookout_contracts.events import identity as events
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import Conflict, NotFound

from lookout_identity import repository
from lookout_identity.components import Components
from lookout_identity.events import publish
from lookout_identity.schemas import PermissionIn, PermissionOut, RoleCreate, RoleOut, RoleUpdate
from lookout_identity.service.common import conflict_from
from lookout_identity.service.guard import require
from lookout_identity.service.shaping import permission_out, role_out


def _no_such_role() -> NotFound:
    return NotFound("no such role")


async def _lock_custom_role(
    conn: asyncpg.Connection, caller: Caller, role_id: UUID, action: str
) -> asyncpg.Record:
    """Lock a role the caller may ``action``: 404 when it is not the tenant's, 403 without the
    permission, 409 for a built-in role."""
    role = await repository.lock_role(conn, caller.tenant_id, role_id)
    if role is None:
        raise _no_such_role()
    require(caller, action, "role", object_id=role_id)
    if role["is_builtin"]:
        raise Conflict("built-in roles cannot be changed", code="builtin_role")
    return role


async def list_roles(components: Components, caller: Caller) -> list[RoleOut]:
    require(caller, "read", "role")
    async with components.pool.acquire() as conn:
        roles = await repository.list_roles(conn, caller.tenant_id)
        return [
            role_out(role, await repository.list_permissions(conn, caller.tenant_id, role["id"]))
            for role in roles
        ]


async def get_role(components: Components, caller: Caller, role_id: UUID) -> RoleOut:
    async with components.pool.acquire() as conn:
        role = await repository.get_role(conn, caller.tenant_id, role_id)
        if role is None:
            raise _no_such_role()
        require(caller, "read", "role", object_id=role_id)
        permissions = await repository.list_permissions(conn, caller.tenant_id, role_id)
    return role_out(role, permissions)


async def _grant(
    conn: asyncpg.Connection,
    components: Components,
    caller: Caller,
    role_id: UUID,
    permission: PermissionIn,
) -> asyncpg.Record:
    conditions = None if permission.conditions is None else permission.conditions.to_document()
    row = await repository.insert_permission(
        conn, caller.tenant_id, role_id, permission.resource, permission.action, conditions
    )
    await publish(
        conn,
        components.settings,
        "permission.granted",
        tenant_id=caller.tenant_id,
        subject_id=role_id,
        actor_id=caller.user_id,
        session_id=caller.session_id,
        data=events.PermissionGrantedV1(
            permission_id=row["id"],
            resource=permission.resource,
            action=permission.action,
            conditions=conditions,
        ),
    )
    return row


async def create_role(components: Components, caller: Caller, body: RoleCreate) -> RoleOut:
    require(caller, "create", "role")
    try:
        async with components.pool.acquire() as conn, conn.transaction():
            role = await repository.insert_role(
                conn, caller.tenant_id, body.name, body.description, is_builtin=False
            )
            await publish(
                conn,
                components.settings,
                "role.created",
                tenant_id=caller.tenant_id,
                subject_id=role["id"],
                actor_id=caller.user_id,
                session_id=caller.session_id,
                data=events.RoleCreatedV1(
                    name=body.name, description=body.description, is_builtin=False
                ),
            )
            permissions = [
                await _grant(conn, components, caller, role["id"], permission)
                for permission in body.permissions
            ]
    except asyncpg.UniqueViolationError as error:
        raise conflict_from(error) from None
    return role_out(role, permissions)


async def update_role(
    components: Components, caller: Caller, role_id: UUID, body: RoleUpdate
) -> RoleOut:
    fields = body.model_dump(exclude_unset=True)
    try:
        async with components.pool.acquire() as conn, conn.transaction():
            current = await _lock_custom_role(conn, caller, role_id, "update")
            name = fields.get("name") or current["name"]
            description = (
                fields["description"] if "description" in fields else current["description"]
            )
            changed = tuple(
                field
                for field, differs in (
                    ("name", name != current["name"]),
                    ("description", description != current["description"]),
                )
                if differs
            )
            permissions = await repository.list_permissions(conn, caller.tenant_id, role_id)
            if not changed:
                return role_out(current, permissions)
            role = await repository.update_role(conn, caller.tenant_id, role_id, name, description)
            assert role is not None
            await publish(
                conn,
                components.settings,
                "role.updated",
                tenant_id=caller.tenant_id,
                subject_id=role_id,
                actor_id=caller.user_id,
                session_id=caller.session_id,
                data=events.RoleUpdatedV1(
                    name=name,
                    description=description,
                    changed_fields=changed,
                ),
            )
    except asyncpg.UniqueViolationError as error:
        raise conflict_from(error) from None
    return role_out(role, permissions)


async def delete_role(components: Components, caller: Caller, role_id: UUID) -> None:
    async with components.pool.acquire() as conn, conn.transaction():
        await _lock_custom_role(conn, caller, role_id, "delete")
        if await repository.count_role_users(conn, caller.tenant_id, role_id):
            raise Conflict("the role still has users", code="role_in_use")
        await publish(
            conn,
            components.settings,
            "role.deleted",
            tenant_id=caller.tenant_id,
            subject_id=role_id,
            actor_id=caller.user_id,
            session_id=caller.session_id,
            data=events.RoleDeletedV1(),
        )
        await repository.delete_role(conn, caller.tenant_id, role_id)


async def grant_permission(
    components: Components, caller: Caller, role_id: UUID, body: PermissionIn
) -> PermissionOut:
    async with components.pool.acquire() as conn, conn.transaction():
        await _lock_custom_role(conn, caller, role_id, "update")
        row = await _grant(conn, components, caller, role_id, body)
        await repository.mark_role_permissions_changed(conn, caller.tenant_id, role_id)
    return permission_out(row)


async def revoke_permission(
    components: Components, caller: Caller, role_id: UUID, permission_id: UUID
) -> None:
    async with components.pool.acquire() as conn, conn.transaction():
        await _lock_custom_role(conn, caller, role_id, "update")
        row = await repository.delete_permission(conn, caller.tenant_id, role_id, permission_id)
        if row is None:
            raise NotFound("no such permission")
        await repository.mark_role_permissions_changed(conn, caller.tenant_id, role_id)
        await publish(
            conn,
            components.settings,
            "permission.revoked",
            tenant_id=caller.tenant_id,
            subject_id=role_id,
            actor_id=caller.user_id,
            session_id=caller.session_id,
            data=events.PermissionRevokedV1(
                permission_id=permission_id, resource=row["resource"], action=row["action"]
            ),
        )
