"""Tenants: sign-up (a new tenant with its roles and first admin), and the caller's own tenant:
read, update, delete."""

from __future__ import annotations

from uuid import UUID

from lookout_contracts.events import identity as events
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import NotFound

from lookout_identity import repository
from lookout_identity.auth import require
from lookout_identity.components import Components
from lookout_identity.events import publish
from lookout_identity.schemas import (
    SignupRequest,
    SignupResponse,
    TenantOut,
    TenantUpdate,
    UserOut,
)
from lookout_identity.service.roles import create_builtin_roles
from lookout_identity.service.sessions import log_in, token_pair
from lookout_identity.service.users import publish_user_created


def _own_tenant(caller: Caller, tenant_id: UUID) -> None:
    if tenant_id != caller.tenant_id:
        raise NotFound("no such tenant")


async def signup(
    components: Components, body: SignupRequest, address: str | None
) -> SignupResponse:
    """A new tenant, its built-in roles and its first admin, logged in: one transaction."""
    components.passwords.check_policy(body.password, username=body.username, email=body.email)
    password_hash = await components.passwords.hash(body.password)
    settings = components.settings
    async with components.pool.acquire() as conn, conn.transaction():
        tenant = await repository.tenants.insert_tenant(
            conn, body.tenant_name, body.tenant_slug, {}
        )
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
        user = await repository.users.insert_user(
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
    return SignupResponse(
        tenant=TenantOut.from_row(tenant),
        user=UserOut.from_row(user),
        tokens=token_pair(components, access_token, refresh_token, str(session_id)),
    )


async def get_tenant(components: Components, caller: Caller, tenant_id: UUID) -> TenantOut:
    _own_tenant(caller, tenant_id)
    require(caller, "read", "tenant", object_id=tenant_id)
    async with components.pool.acquire() as conn:
        row = await repository.tenants.get_tenant(conn, tenant_id)
    if row is None:
        raise NotFound("no such tenant")
    return TenantOut.from_row(row)


async def update_tenant(
    components: Components, caller: Caller, tenant_id: UUID, body: TenantUpdate
) -> TenantOut:
    _own_tenant(caller, tenant_id)
    require(caller, "update", "tenant", object_id=tenant_id)
    async with components.pool.acquire() as conn, conn.transaction():
        current = await repository.tenants.lock_tenant(conn, tenant_id)
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
            return TenantOut.from_row(current)
        row = await repository.tenants.update_tenant(conn, tenant_id, name, settings)
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
    return TenantOut.from_row(row)


async def delete_tenant(components: Components, caller: Caller, tenant_id: UUID) -> None:
    """Delete the tenant and everything identity holds of it; other services follow the event."""
    _own_tenant(caller, tenant_id)
    require(caller, "delete", "tenant", object_id=tenant_id)
    async with components.pool.acquire() as conn, conn.transaction():
        if await repository.tenants.lock_tenant(conn, tenant_id) is None:
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
        await repository.tenants.delete_tenant(conn, tenant_id)
