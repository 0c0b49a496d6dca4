"""``can(caller, action, resource, obj)``: the one place that decides what a caller may do."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from uuid import UUID

from lookout_kit.auth.caller import Caller
from lookout_kit.auth.conditions import Conditions

RESOURCES = (
    "tenant",
    "user",
    "role",
    "dashboard",
    "data_source",
    "saved_query",
    "alert",
    "analytics",
)
ACTIONS = ("read", "create", "update", "delete", "share", "execute", "admin")


@dataclass(frozen=True)
class Target:
    """What the conditions look at in an object: its tenant, id, owner and tags.

    For ``create``, describe the object about to exist (e.g. ``owner_id`` = the caller).
    """

    tenant_id: UUID
    id: UUID | str | None = None
    owner_id: UUID | None = None
    tags: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(
        cls,
        tenant_id: UUID,
        id: UUID | str | None = None,
        owner_id: UUID | None = None,
        tags: Iterable[str] = (),
    ) -> Target:
        return cls(tenant_id=tenant_id, id=id, owner_id=owner_id, tags=frozenset(tags))


def conditions_hold(conditions: Conditions | None, caller: Caller, obj: Target | None) -> bool:
    """Do ``conditions`` hold for ``obj``? Without an object only an unconditional permission
    applies: a condition about an object cannot be known to hold for no object."""
    if conditions is None:
        return True
    if obj is None:
        return False
    if conditions.owner_only and obj.owner_id != caller.user_id:
        return False
    if conditions.ids is not None and (obj.id is None or str(obj.id) not in conditions.ids):
        return False
    return conditions.tags_any is None or not obj.tags.isdisjoint(conditions.tags_any)


def can(caller: Caller, action: str, resource: str, obj: Target | None = None) -> bool:
    """May ``caller`` do ``action`` on ``resource`` (on ``obj`` when given)?

    A permission applies when its resource is ``resource``, its action is ``action`` or
    ``admin`` (which implies every action on that resource), and its conditions hold for ``obj``.
    An object of another tenant is never allowed (callers answer 404 for it, not 403).
    """
    if obj is not None and obj.tenant_id != caller.tenant_id:
        return False
    return any(
        permission.resource == resource
        and permission.action in (action, "admin")
        and conditions_hold(permission.conditions, caller, obj)
        for permission in caller.permissions
    )
