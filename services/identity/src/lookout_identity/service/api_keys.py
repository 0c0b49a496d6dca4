"""A user's own API keys: create (shown once), list, revoke."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

from lookout_contracts.events import identity as events
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import NotFound

from lookout_identity import repository
from lookout_identity.components import Components
from lookout_identity.events import publish
from lookout_identity.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from lookout_identity.service.common import now
from lookout_identity.service.shaping import api_key_out
from lookout_identity.tokens import new_api_key


async def create_api_key(
    components: Components, caller: Caller, body: ApiKeyCreate
) -> ApiKeyCreated:
    key, prefix, key_hash = new_api_key()
    expires_at = (
        None if body.expires_in_days is None else now() + timedelta(days=body.expires_in_days)
    )
    async with components.pool.acquire() as conn, conn.transaction():
        row = await repository.insert_api_key(
            conn,
            api_key_id=uuid4(),
            tenant_id=caller.tenant_id,
            user_id=caller.user_id,
            name=body.name,
            key_hash=key_hash,
            prefix=prefix,
            expires_at=expires_at,
        )
        await publish(
            conn,
            components.settings,
            "api_key.created",
            tenant_id=caller.tenant_id,
            subject_id=row["id"],
            actor_id=caller.user_id,
            session_id=caller.session_id,
            data=events.ApiKeyCreatedV1(
                user_id=caller.user_id, name=body.name, expires_at=expires_at
            ),
        )
    return ApiKeyCreated(**api_key_out(row).model_dump(), key=key)


async def list_api_keys(components: Components, caller: Caller) -> list[ApiKeyOut]:
    async with components.pool.acquire() as conn:
        rows = await repository.list_api_keys(conn, caller.tenant_id, caller.user_id)
    return [api_key_out(row) for row in rows]


async def revoke_api_key(components: Components, caller: Caller, api_key_id: UUID) -> None:
    async with components.pool.acquire() as conn, conn.transaction():
        row = await repository.revoke_api_key(conn, caller.tenant_id, caller.user_id, api_key_id)
        if row is None:
            if await repository.get_api_key(conn, caller.tenant_id, caller.user_id, api_key_id):
                return  # already revoked: revoking is idempotent
            raise NotFound("no such API key")
        await publish(
            conn,
            components.settings,
            "api_key.revoked",
            tenant_id=caller.tenant_id,
            subject_id=api_key_id,
            actor_id=caller.user_id,
            session_id=caller.session_id,
            data=events.ApiKeyRevokedV1(user_id=caller.user_id),
        )
