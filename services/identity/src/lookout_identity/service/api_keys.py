"""A user's own API keys: create (shown once), list, revoke, and exchange one for a token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from lookout_contracts.events import identity as events
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import NotFound, Unauthorized

from lookout_identity import repository
from lookout_identity.components import Components
from lookout_identity.events import publish
from lookout_identity.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, TokenResponse
from lookout_identity.service.sessions import access_token_for, token_pair
from lookout_identity.tokens import hash_secret, new_api_key


async def create_api_key(
    components: Components, caller: Caller, body: ApiKeyCreate
) -> ApiKeyCreated:
    key, prefix, key_hash = new_api_key()
    expires_at = (
        None
        if body.expires_in_days is None
        else datetime.now(UTC) + timedelta(days=body.expires_in_days)
    )
    async with components.pool.acquire() as conn, conn.transaction():
        row = await repository.api_keys.insert_api_key(
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
    return ApiKeyCreated(**ApiKeyOut.from_row(row).model_dump(), key=key)


async def list_api_keys(components: Components, caller: Caller) -> list[ApiKeyOut]:
    async with components.pool.acquire() as conn:
        rows = await repository.api_keys.list_api_keys(conn, caller.tenant_id, caller.user_id)
    return [ApiKeyOut.from_row(row) for row in rows]


async def revoke_api_key(components: Components, caller: Caller, api_key_id: UUID) -> None:
    async with components.pool.acquire() as conn, conn.transaction():
        row = await repository.api_keys.revoke_api_key(
            conn, caller.tenant_id, caller.user_id, api_key_id
        )
        if row is None:
            if await repository.api_keys.get_api_key(
                conn, caller.tenant_id, caller.user_id, api_key_id
            ):
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


async def api_key_token(components: Components, api_key: str) -> TokenResponse:
    """A short-lived access token for an API key (its session id is the key's id)."""
    async with components.pool.acquire() as conn:
        key = await repository.api_keys.use_api_key(conn, hash_secret(api_key))
        user = (
            None
            if key is None
            else await repository.users.get_user(conn, key["tenant_id"], key["user_id"])
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
