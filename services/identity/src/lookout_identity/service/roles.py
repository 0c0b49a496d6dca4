"""Roles of the caller's tenant and their permissions. Built-in roles are read-only."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from lookout_contracts.events import identity as events
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import Conflict, NotFound

from lookout_identity import repository
from lookout_identity.auth import require
from lookout_identity.builtin_roles import BUILTIN_ROLES
from lookout_identity.components import Components
from lookout_identity.events import publish
from lookout_identity.schemas import PermissionIn, PermissionOut, RoleCreate, RoleOut, RoleUpdate


def _no_such_role() -> NotFound:
    return NotFound("no such role")


async def _lock_custom_role(
    conn: asyncpg.Connection, caller: Caller, role_id: UUID, action: str
) -> asyncpg.Record:
    """Lock a role the caller may ``action``: 404 when it is not the tenant's, 403 without the
    permission, 409 for a built-in role."""
    role = await repository.roles.lock_role(conn, caller.tenant_id, role_id)
    if role is None:
        raise _no_such_role()
    require(caller, action, "role", object_id=role_id)
    if role["is_builtin"]:
        raise Conflict("built-in roles cannot be changed", code="builtin_role")
    return role


async def create_builtin_roles(
    conn: asyncpg.Connection, components: Components, tenant_id: UUID
) -> dict[str, UUID]:
    """A new tenant's ``admin``, ``editor`` and ``viewer`` with their permissions; returns their
    ids by name."""
    ids: dict[str, UUID] = {}
    for name, (description, grants) in BUILTIN_ROLES.items():
        role = await repository.roles.insert_role(
            conn, tenant_id, name, description, is_builtin=True
        )
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
            permission = await repository.roles.insert_permission(
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


async def list_roles(components: Components, caller: Caller) -> list[RoleOut]:
    require(caller, "read", "role")
    async with components.pool.acquire() as conn:
        roles = await repository.roles.list_roles(conn, caller.tenant_id)
        return [
            RoleOut.from_row(
                role, await repository.roles.list_permissions(conn, caller.tenant_id, role["id"])
            )
            for role in roles
        ]


async def get_role(components: Components, caller: Caller, role_id: UUID) -> RoleOut:
    async with components.pool.acquire() as conn:
        role = await repository.roles.get_role(conn, caller.tenant_id, role_id)
        if role is None:
            raise _no_such_role()
        require(caller, "read", "role", object_id=role_id)
        permissions = await repository.roles.list_permissions(conn, caller.tenant_id, role_id)
    return RoleOut.from_row(role, permissions)


async def _grant(
    conn: asyncpg.Connection,
    components: Components,
    caller: Caller,
    role_id: UUID,
    permission: PermissionIn,
) -> asyncpg.Record:
    conditions = None if permission.conditions is None else permission.conditions.to_document()
    row = await repository.roles.insert_permission(
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
    async with components.pool.acquire() as conn, conn.transaction():
        role = await repository.roles.insert_role(
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
    return RoleOut.from_row(role, permissions)


async def update_role(
    components: Components, caller: Caller, role_id: UUID, body: RoleUpdate
) -> RoleOut:
    fields = body.model_dump(exclude_unset=True)
    async with components.pool.acquire() as conn, conn.transaction():
        current = await _lock_custom_role(conn, caller, role_id, "update")
        name = fields.get("name") or current["name"]
        description = fields["description"] if "description" in fields else current["description"]
        changed = tuple(
            field
            for field, differs in (
                ("name", name != current["name"]),
                ("description", description != current["description"]),
            )
            if differs
        )
        permissions = await repository.roles.list_permissions(conn, caller.tenant_id, role_id)
        if not changed:
            return RoleOut.from_row(current, permissions)
        role = await repository.roles.update_role(
            conn, caller.tenant_id, role_id, name, description
        )
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
    return RoleOut.from_row(role, permissions)


async def delete_role(components: Components, caller: Caller, role_id: UUID) -> None:
    async with components.pool.acquire() as conn, conn.transaction():
        await _lock_custom_role(conn, caller, role_id, "delete")
        if await repository.roles.count_role_users(conn, caller.tenant_id, role_id):
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
        await repository.roles.delete_role(conn, caller.tenant_id, role_id)


async def grant_permission(
    components: Components, caller: Caller, role_id: UUID, body: PermissionIn
) -> PermissionOut:
    async with components.pool.acquire() as conn, conn.transaction():
        await _lock_custom_role(conn, caller, role_id, "update")
        row = await _grant(conn, components, caller, role_id, body)
        await repository.roles.mark_role_permissions_changed(conn, caller.tenant_id, role_id)
    return PermissionOut.from_row(row)


async def revoke_permission(
    components: Components, caller: Caller, role_id: UUID, permission_id: UUID
) -> None:
    async with components.pool.acquire() as conn, conn.transaction():
        await _lock_custom_role(conn, caller, role_id, "update")
        row = await repository.roles.delete_permission(
            conn, caller.tenant_id, role_id, permission_id
        )
        if row is None:
            raise NotFound("no such permission")
        await repository.roles.mark_role_permissions_changed(conn, caller.tenant_id, role_id)
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
