"""Who may do what with a data source or a saved query (``lookout_kit.auth.policy.can`` decides
each role permission; this module says which ones a use case needs).

**Data sources** are the tenant's connections: every action needs the role permission
``data_source:<action>`` (``read``, ``create``, ``update``, ``delete``, ``execute``; ``admin`` is
all), whose conditions (``owner_only``, ``ids``) must hold for the source. A caller holding none of
``read``, ``update``, ``delete``, ``execute`` on a source cannot see it: 404, as for another
tenant's; one that sees it but lacks the action gets 403.

**Saved queries**: a caller's level is the highest of ``admin`` for the owner; the role's
``saved_query`` permissions whose conditions hold (``admin`` → admin, ``update`` → edit, ``read``
or ``execute`` → view); ``view`` when the query is public. No level: 404. ``view`` opens it (and
runs it), ``edit`` changes its content, ``admin`` or a ``delete`` permission deletes it, ``admin``
or a ``share`` permission makes it public or private. Creating needs ``saved_query:create``.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from lookout_kit.auth.caller import Caller, Permission, ServiceCaller
from lookout_kit.auth.policy import Target, can
from lookout_kit.errors import Forbidden, NotFound

from lookout_datasource.repository.data_sources import DataSourceRow
from lookout_datasource.repository.saved_queries import SavedQueryRow
from lookout_datasource.repository.visibility import Visibility

DATA_SOURCE = "data_source"
SAVED_QUERY = "saved_query"
DataSourceAction = Literal["read", "create", "update", "delete", "execute"]
SOURCE_VISIBLE_ACTIONS = ("read", "update", "delete", "execute", "admin")
NO_DATA_SOURCE = "no such data source"

Level = Literal["view", "edit", "admin"]
RANK: dict[Level, int] = {"view": 1, "edit": 2, "admin": 3}
LEVELS: tuple[Level, ...] = ("view", "edit", "admin")
ROLE_ACTION_LEVEL: tuple[tuple[str, Level], ...] = (
    ("admin", "admin"),
    ("update", "edit"),
    ("read", "view"),
    ("execute", "view"),
)
QUERY_VISIBLE_ACTIONS = tuple(action for action, _ in ROLE_ACTION_LEVEL)
NO_SAVED_QUERY = "no such saved query"


def _visibility(
    caller: Caller, resource: str, actions: tuple[str, ...], *, owner_sees: bool
) -> Visibility:
    clauses = [
        permission.conditions
        for permission in caller.permissions
        if permission.resource == resource and permission.action in actions
    ]
    if any(clause is None for clause in clauses):
        return Visibility(user_id=caller.user_id, everything=True)
    return Visibility(
        user_id=caller.user_id,
        clauses=tuple(clause for clause in clauses if clause is not None),
        owner_sees=owner_sees,
    )


# -- data sources ---------------------------------------------------------------------------------


def source_target(row: DataSourceRow) -> Target:
    return Target.of(row.tenant_id, id=row.id, owner_id=row.owner_id)


def may_see_source(caller: Caller, row: DataSourceRow) -> bool:
    target = source_target(row)
    return any(can(caller, action, DATA_SOURCE, target) for action in SOURCE_VISIBLE_ACTIONS)


def check_source(
    caller: Caller, row: DataSourceRow | None, action: DataSourceAction
) -> DataSourceRow:
    """``row`` if the caller may do ``action`` on it; 404 if it cannot see it, 403 otherwise."""
    if row is None or row.tenant_id != caller.tenant_id or not may_see_source(caller, row):
        raise NotFound(NO_DATA_SOURCE)
    if not can(caller, action, DATA_SOURCE, source_target(row)):
        raise Forbidden(f"your role may not {action} this data source")
    return row


def may_create_source(caller: Caller) -> bool:
    return can(caller, "create", DATA_SOURCE, Target.of(caller.tenant_id, owner_id=caller.user_id))


def source_visibility(caller: Caller) -> Visibility:
    """The sources a list may return to the caller, as the repository's SQL applies them."""
    return _visibility(caller, DATA_SOURCE, SOURCE_VISIBLE_ACTIONS, owner_sees=False)


# -- saved queries --------------------------------------------------------------------------------


def query_target(row: SavedQueryRow) -> Target:
    return Target.of(row.tenant_id, id=row.id, owner_id=row.user_id)


def level_of(caller: Caller, row: SavedQueryRow) -> Level | None:
    """The caller's level on a saved query (None: it does not exist for the caller)."""
    if row.tenant_id != caller.tenant_id:
        return None
    best = RANK["admin"] if row.user_id == caller.user_id else 0
    target = query_target(row)
    for action, level in ROLE_ACTION_LEVEL:
        if RANK[level] > best and can(caller, action, SAVED_QUERY, target):
            best = RANK[level]
    if row.is_public:
        best = max(best, RANK["view"])
    return LEVELS[best - 1] if best else None


def at_least(level: Level | None, needed: Level) -> bool:
    return level is not None and RANK[level] >= RANK[needed]


def check_query(
    caller: Caller, row: SavedQueryRow | None, needed: Level
) -> tuple[SavedQueryRow, Level]:
    """``row`` and the caller's level on it; 404 if it cannot see it, 403 below ``needed``."""
    level = None if row is None else level_of(caller, row)
    if row is None or level is None:
        raise NotFound(NO_SAVED_QUERY)
    if not at_least(level, needed):
        raise Forbidden(f"this needs {needed} rights on the saved query; you have {level}")
    return row, level


def may_delete_query(caller: Caller, row: SavedQueryRow, level: Level) -> bool:
    return at_least(level, "admin") or can(caller, "delete", SAVED_QUERY, query_target(row))


def may_share_query(caller: Caller, row: SavedQueryRow, level: Level) -> bool:
    return at_least(level, "admin") or can(caller, "share", SAVED_QUERY, query_target(row))


def may_create_query(caller: Caller) -> bool:
    return can(caller, "create", SAVED_QUERY, Target.of(caller.tenant_id, owner_id=caller.user_id))


NO_USER = UUID(int=0)
"""The user id of a tenant service's caller: no user (the events of its executions have no actor)."""


def tenant_service_caller(service: ServiceCaller) -> Caller:
    """The caller a tenant service (``tenant_services``) runs a batch as: its tenant, no user, and
    view rights on every saved query of the tenant (``saved_query:read``), nothing else."""
    assert service.tenant_id is not None  # checked with the token
    return Caller(
        tenant_id=service.tenant_id,
        user_id=NO_USER,
        role_id=NO_USER,
        session_id=f"service:{service.service}",
        permissions=(Permission(SAVED_QUERY, "read"),),
        issued_at=service.issued_at,
        expires_at=service.expires_at,
    )


def actor_of(caller: Caller) -> UUID | None:
    """The actor of an event ``caller`` causes: none for a tenant service."""
    return None if caller.user_id == NO_USER else caller.user_id


def query_visibility(caller: Caller) -> Visibility:
    """The saved queries a list may return to the caller: its own, public ones, and those its
    role's permissions reach."""
    return _visibility(caller, SAVED_QUERY, QUERY_VISIBLE_ACTIONS, owner_sees=True)
