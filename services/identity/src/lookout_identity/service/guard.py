"""Authorisation inside identity: ``can()`` from the kit, answered as 403 (own tenant only: another
tenant's objects are never found, so they answer 404 before this is asked)."""

from __future__ import annotations

from uuid import UUID

from lookout_kit.auth.caller import Caller
from lookout_kit.auth.policy import Target, can
from lookout_kit.errors import Forbidden


def require(
    caller: Caller,
    action: str,
    resource: str,
    *,
    object_id: UUID | None = None,
    owner_id: UUID | None = None,
) -> None:
    target = Target.of(caller.tenant_id, id=object_id, owner_id=owner_id)
    if not can(caller, action, resource, target):
        raise Forbidden(f"not allowed to {action} {resource}", code="forbidden")
