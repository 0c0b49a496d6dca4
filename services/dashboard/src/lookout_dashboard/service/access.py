"""Who may do what with a dashboard: owner, per-dashboard grants, role permissions, public.

A caller's level on a dashboard is the highest of: ``admin`` for its owner; each grant to the caller
or the caller's role; the caller's role permissions on ``dashboard`` (``admin`` → admin, ``share`` →
share, ``update`` → edit, ``read`` → view) whose conditions hold for it; ``view`` when it is public.
No level means the caller cannot see it: the API answers 404, exactly as for another tenant's.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import asyncpg
from lookout_kit.auth.caller import Caller
from lookout_kit.auth.conditions import Conditions
from lookout_kit.auth.policy import Target, can
from lookout_kit.errors import Forbidden, NotFound

from lookout_dashboard.repository import dashboards
from lookout_dashboard.repository.dashboards import DashboardRow, Visibility

Level = Literal["view", "edit", "share", "admin"]
RANK: dict[Level, int] = {"view": 1, "edit": 2, "share": 3, "admin": 4}
LEVELS: tuple[Level, ...] = ("view", "edit", "share", "admin")
ROLE_ACTION_LEVEL: tuple[tuple[str, Level], ...] = (
    ("admin", "admin"),
    ("share", "share"),
    ("update", "edit"),
    ("read", "view"),
)
# Role permission actions that let a caller see a dashboard at all (see ROLE_ACTION_LEVEL).
VISIBLE_ACTIONS = frozenset(action for action, _ in ROLE_ACTION_LEVEL)
NOT_FOUND = "no such dashboard"


def target(tenant_id: UUID, dashboard_id: UUID | None, owner_id: UUID, tags: list[str]) -> Target:
    return Target.of(tenant_id, id=dashboard_id, owner_id=owner_id, tags=tags)


def level_of(
    caller: Caller,
    *,
    obj: Target,
    is_public: bool,
    granted: list[str],
) -> Level | None:
    """The caller's level on one dashboard, given the grants that name the caller or its role."""
    if obj.tenant_id != caller.tenant_id:
        return None
    best = 0
    if obj.owner_id == caller.user_id:
        best = RANK["admin"]
    for permission in granted:
        if permission in RANK:
            best = max(best, RANK[permission])
    for action, level in ROLE_ACTION_LEVEL:
        if RANK[level] > best and can(caller, action, "dashboard", obj):
            best = RANK[level]
    if is_public:
        best = max(best, RANK["view"])
    return LEVELS[best - 1] if best else None


def at_least(level: Level | None, needed: Level) -> bool:
    return level is not None and RANK[level] >= RANK[needed]


def may_delete(caller: Caller, level: Level | None, obj: Target) -> bool:
    return at_least(level, "admin") or can(caller, "delete", "dashboard", obj)


def may_create(caller: Caller, tags: list[str]) -> bool:
    return can(caller, "create", "dashboard", target(caller.tenant_id, None, caller.user_id, tags))


def visible_conditions(caller: Caller) -> list[Conditions | None]:
    """The conditions of each role permission that makes a dashboard visible (``None`` = all)."""
    return [
        permission.conditions
        for permission in caller.permissions
        if permission.resource == "dashboard" and permission.action in VISIBLE_ACTIONS
    ]


def visibility(caller: Caller) -> Visibility:
    """The dashboards a search may return to the caller, as the repository's SQL applies them."""
    clauses = visible_conditions(caller)
    if any(clause is None for clause in clauses):
        return Visibility(user_id=caller.user_id, role_id=caller.role_id, everything=True)
    return Visibility(
        user_id=caller.user_id,
        role_id=caller.role_id,
        clauses=tuple(clause for clause in clauses if clause is not None),
    )


async def load(
    conn: asyncpg.Connection,
    caller: Caller,
    dashboard_id: UUID,
    needed: Level,
    *,
    for_update: bool = False,
) -> tuple[DashboardRow, Level]:
    """The dashboard and the caller's level on it; 404 if the caller cannot see it, 403 if it can
    see it but lacks ``needed``."""
    found = await dashboards.get_dashboard_and_grants(
        conn, caller.tenant_id, dashboard_id, caller.user_id, caller.role_id, for_update=for_update
    )
    if found is None:
        raise NotFound(NOT_FOUND)
    row, grants = found
    level = level_of(
        caller,
        obj=target(row.tenant_id, row.id, row.owner_id, row.tags),
        is_public=row.is_public,
        granted=grants,
    )
    if level is None:
        raise NotFound(NOT_FOUND)
    if not at_least(level, needed):
        raise Forbidden(f"this needs {needed} rights on the dashboard; you have {level}")
    return row, level
