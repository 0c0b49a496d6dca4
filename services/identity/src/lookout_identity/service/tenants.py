"""The caller's tenant: read, update, delete."""

from __future__ import annotations

from uuid import UUID

from lookout_contracts.events import identity as events
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import NotFound

from lookout_identity import repository
from lookout_identity.components import Components
from lookout_identity.events import publish
from lookout_identity.schemas import TenantOut, TenantUpdate
from lookout_identity.service.guard import require
from lookout_identity.service.shaping import tenant_out


def _own_tenant(caller: Caller, tenant_id: UUID) -> None:
    if tenant_id != caller.tenant_id:
        raise NotFound("no such tenant")


async def get_tenant(components: Components, caller: Caller, tenant_id: UUID) -> TenantOut:
    _own_tenant(caller, tenant_id)
    require(caller, "read", "tenant", object_id=tenant_id)
    async with components.pool.acquire() as conn:
        row = await repository.get_tenant(conn, tenant_id)
    if row is None:
        raise NotFound("no such tenant")
    return tenant_out(row)


async def update_tenant(
    components: Components, caller: Caller, tenant_id: UUID, body: TenantUpdate
) -> TenantOut:
    _own_tenant(caller, tenant_id)
    require(caller, "update", "tenant", object_id=tenant_id)
    async with components.pool.acquire() as conn, conn.transaction():
        current = await repository.lock_tenant(conn, tenant_id)
        if current is None:
            raise NotFound("no such tenant")
        name = current["name"] if body.name is None else body.name
        settings = current["settings"] if body.settings is None else body.settings
        changed = tuple(
            field
            for field, differs in (
                ("name", name != current["name"]),
                ("settings", settings != current["settings"]),
            )
            if differs
        )
        if not changed:
            return tenant_out(current)
        row = await repository.update_tenant(conn, tenant_id, name, settings)
        assert row is not None
        await publish(
            conn,
            components.settings,
            "tenant.updated",
            tenant_id=tenant_id,
            subject_id=tenant_id,
            actor_id=caller.user_id,
            session_id=caller.session_id,
            data=events.TenantUpdatedV1(name=name, changed_fields=changed),
        )
    return tenant_out(row)


async def delete_tenant(components: Components, caller: Caller, tenant_id: UUID) -> None:
    """Delete the tenant and everything identity holds of it; other services follow the event."""
    _own_tenant(caller, tenant_id)
    require(caller, "delete", "tenant", object_id=tenant_id)
    async with components.pool.acquire() as conn, conn.transaction():
        if await repository.lock_tenant(conn, tenant_id) is None:
            raise NotFound("no such tenant")
        await publish(
            conn,
            components.settings,
            "tenant.deleted",
            tenant_id=tenant_id,
            subject_id=tenant_id,
            actor_id=caller.user_id,
            data=events.TenantDeletedV1(),
        )
        await repository.delete_tenant(conn, tenant_id)
