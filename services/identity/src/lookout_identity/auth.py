"""Who the caller is and what it may do, inside identity.

Tokens: the kit's verification plus the database, which is the source of truth here (a revoked
session or a deactivated user is refused at once, not in seconds). Permissions: the kit's ``can()``,
answered as 403 (own tenant only: another tenant's objects are never found, so they answer 404
before this is asked)."""

from __future__ import annotations

import time
from typing import Annotated
from uuid import UUID

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials
from lookout_kit.auth.caller import Caller
from lookout_kit.auth.dependencies import bearer_scheme
from lookout_kit.auth.policy import Target, can
from lookout_kit.auth.verify import ACCESS, caller_from_claims
from lookout_kit.errors import Forbidden, Unauthorized

from lookout_identity import repository
from lookout_identity.components import ComponentsDep


def _refused() -> Unauthorized:
    return Unauthorized("invalid or expired token", code="invalid_token")


async def identity_caller(
    components: ComponentsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Caller:
    if credentials is None:
        raise Unauthorized("a bearer access token is required", code="missing_token")
    claims = await components.verifier.claims(credentials.credentials, token_use=ACCESS)
    caller = caller_from_claims(claims)
    async with components.pool.acquire() as conn:
        if claims.get("via") == "api_key":
            try:
                api_key_id = UUID(caller.session_id)
            except ValueError:
                raise _refused() from None
            state = await repository.api_keys.api_key_state(
                conn, caller.tenant_id, api_key_id, caller.user_id
            )
        else:
            try:
                session_id = UUID(caller.session_id)
            except ValueError:
                raise _refused() from None
            state = await repository.sessions.session_state(
                conn, caller.tenant_id, session_id, caller.user_id
            )
    now = time.time()
    if (
        state is None
        or state["revoked_at"] is not None
        or (state["expires_at"] is not None and state["expires_at"].timestamp() <= now)
        or not state["is_active"]
        or state["role_id"] != caller.role_id
        or state["permissions_changed_at"].timestamp() > caller.issued_at
    ):
        raise _refused()
    return caller


CurrentCaller = Annotated[Caller, Depends(identity_caller)]


def require(
    caller: Caller,
    action: str,
    resource: str,
    *,
    object_id: UUID | None = None,
    owner_id: UUID | None = None,
) -> None:
    """403 unless ``caller`` may ``action`` the ``resource`` (the object, when one is named)."""
    target = Target.of(caller.tenant_id, id=object_id, owner_id=owner_id)
    if not can(caller, action, resource, target):
        raise Forbidden(f"not allowed to {action} {resource}", code="forbidden")
