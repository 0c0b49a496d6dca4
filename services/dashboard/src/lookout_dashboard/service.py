"""Dashboard use cases: each one transaction, the state change and its outbox event together."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from lookout_contracts import make_event
from lookout_contracts.events.dashboard import (
    DashboardCreatedV1,
    DashboardDeletedV1,
    DashboardPublishedV1,
    DashboardRestoredV1,
    DashboardSharedV1,
    DashboardUnpublishedV1,
    DashboardUnsharedV1,
    DashboardUpdatedV1,
    DashboardViewedV1,
)
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import Conflict, Forbidden, Invalid, NotFound
from lookout_kit.outbox import publish_in_tx, publish_standalone
from pydantic import BaseModel, ValidationError

from lookout_dashboard import access, repository
from lookout_dashboard.access import Level
from lookout_dashboard.document import Document, reference_errors
from lookout_dashboard.repository import Content, DashboardRow, SearchQuery, Visibility
from lookout_dashboard.schemas import (
    Dashboard,
    DashboardContent,
    DashboardPage,
    DashboardSummary,
    ExportedDashboard,
    Grant,
    GrantCreate,
    Version,
    VersionSummary,
)

NOT_FOUND = "no such dashboard"
VERSIONED_FIELDS = ("name", "description", "layout", "components", "filters", "tags", "is_public")


# -- helpers ---------------------------------------------------------------------------------------


def check_references(content: DashboardContent, prefix: tuple[str, ...] = ("body",)) -> None:
    document = Document.model_validate(
        {
            "layout": content.layout,
            "components": content.components,
            "filters": content.filters,
        }
    )
    errors = reference_errors(document, prefix)
    if errors:
        where = ", ".join(".".join(e["loc"]) + ": " + e["msg"] for e in errors[:5])
        raise Invalid(f"Invalid dashboard: {where}", details=errors)


def _jsonable(model: BaseModel | list[Any]) -> Any:
    if isinstance(model, list):
        return [item.model_dump(mode="json") for item in model]
    return model.model_dump(mode="json")


def content_of(body: DashboardContent) -> Content:
    return Content(
        name=body.name,
        description=body.description,
        layout=_jsonable(body.layout),
        components=_jsonable(body.components),
        filters=_jsonable(body.filters),
        tags=list(body.tags),
        is_public=body.is_public,
    )


def _row_content(row: DashboardRow | asyncpg.Record) -> dict[str, Any]:
    get = (lambda key: getattr(row, key)) if isinstance(row, DashboardRow) else row.__getitem__
    return {field: get(field) for field in VERSIONED_FIELDS}


def present(row: DashboardRow, level: Level) -> Dashboard:
    return Dashboard(
        id=row.id,
        name=row.name,
        description=row.description,
        tenant_id=row.tenant_id,
        owner_id=row.owner_id,
        tags=row.tags,
        is_public=row.is_public,
        version=row.version,
        layout=row.layout,
        components=row.components,
        filters=row.filters or [],
        created_at=row.created_at,
        updated_at=row.updated_at,
        published_at=row.published_at,
        published=row.published_at is not None,
        permission=level,
    )


async def _load(
    conn: asyncpg.Connection,
    caller: Caller,
    dashboard_id: UUID,
    needed: Level,
    *,
    for_update: bool = False,
) -> tuple[DashboardRow, Level]:
    """The dashboard and the caller's level on it; 404 if the caller cannot see it, 403 if it can
    see it but lacks ``needed``."""
    found = await repository.get_dashboard_and_grants(
        conn, caller.tenant_id, dashboard_id, caller.user_id, caller.role_id, for_update=for_update
    )
    if found is None:
        raise NotFound(NOT_FOUND)
    row, grants = found
    level = access.level_of(
        caller,
        obj=access.target(row.tenant_id, row.id, row.owner_id, row.tags),
        is_public=row.is_public,
        granted=grants,
    )
    if level is None:
        raise NotFound(NOT_FOUND)
    if not access.at_least(level, needed):
        raise Forbidden(f"this needs {needed} rights on the dashboard; you have {level}")
    return row, level


def _event(type_: str, caller: Caller, row: DashboardRow, data: BaseModel) -> Any:
    return make_event(
        type_,
        tenant_id=row.tenant_id,
        subject_id=row.id,
        data=data,
        actor_id=caller.user_id,
        session_id=caller.session_id,
    )


def _changed(before: DashboardRow, after: DashboardRow) -> tuple[Any, ...]:
    return tuple(f for f in VERSIONED_FIELDS if getattr(before, f) != getattr(after, f)) or (
        "name",
    )


def version_conflict(current: int, based_on: int) -> Conflict:
    return Conflict(
        f"the dashboard is at version {current}, not {based_on}: reload and retry",
        code="version_conflict",
        details={"current_version": current},
    )


def _updated_event(caller: Caller, before: DashboardRow, after: DashboardRow) -> Any:
    return _event(
        "dashboard.updated",
        caller,
        after,
        DashboardUpdatedV1(
            name=after.name,
            owner_id=after.owner_id,
            is_public=after.is_public,
            tags=tuple(after.tags),
            version=after.version,
            changed_fields=_changed(before, after),
        ),
    )


# -- dashboards ------------------------------------------------------------------------------------


async def create_dashboard(pool: asyncpg.Pool, caller: Caller, body: DashboardContent) -> Dashboard:
    check_references(body)
    if not access.may_create(caller, body.tags):
        raise Forbidden("your role may not create dashboards")
    async with pool.acquire() as conn, conn.transaction():
        row = await repository.insert_dashboard(
            conn, tenant_id=caller.tenant_id, owner_id=caller.user_id, content=content_of(body)
        )
        await repository.insert_version(conn, row, created_by=caller.user_id)
        await publish_in_tx(
            conn,
            _event(
                "dashboard.created",
                caller,
                row,
                DashboardCreatedV1(
                    name=row.name,
                    owner_id=row.owner_id,
                    is_public=row.is_public,
                    tags=tuple(row.tags),
                    version=row.version,
                ),
            ),
        )
    return present(row, "admin")


async def view_dashboard(
    pool: asyncpg.Pool, events_pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID
) -> Dashboard:
    """Open a dashboard: records ``dashboard.viewed`` (what usage analytics count)."""
    # The hot path: one read (dashboard and grants), then one write (the event), no transaction.
    async with pool.acquire() as conn:
        row, level = await _load(conn, caller, dashboard_id, "view")
    viewed = _event("dashboard.viewed", caller, row, DashboardViewedV1(version=row.version))
    await publish_standalone(events_pool, viewed)
    return present(row, level)


async def update_dashboard(
    pool: asyncpg.Pool,
    caller: Caller,
    dashboard_id: UUID,
    body: DashboardContent,
    base_version: int,
) -> Dashboard:
    check_references(body)
    async with pool.acquire() as conn, conn.transaction():
        before, level = await _load(conn, caller, dashboard_id, "edit", for_update=True)
        if before.is_public != body.is_public and not access.at_least(level, "share"):
            raise Forbidden("making a dashboard public or private needs share rights")
        after = await repository.update_content(
            conn,
            caller.tenant_id,
            dashboard_id,
            expected_version=base_version,
            content=content_of(body),
        )
        if after is None:
            raise version_conflict(before.version, base_version)
        await repository.insert_version(conn, after, created_by=caller.user_id)
        await publish_in_tx(conn, _updated_event(caller, before, after))
    return present(after, level)


async def delete_dashboard(pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID) -> None:
    async with pool.acquire() as conn, conn.transaction():
        row, level = await _load(conn, caller, dashboard_id, "view", for_update=True)
        if not access.may_delete(
            caller, level, access.target(row.tenant_id, row.id, row.owner_id, row.tags)
        ):
            raise Forbidden("deleting a dashboard needs admin rights on it")
        await repository.delete_dashboard(conn, caller.tenant_id, dashboard_id)
        await publish_in_tx(conn, _event("dashboard.deleted", caller, row, DashboardDeletedV1()))


async def set_published(
    pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID, published: bool
) -> Dashboard:
    async with pool.acquire() as conn, conn.transaction():
        before, level = await _load(conn, caller, dashboard_id, "edit", for_update=True)
        if (before.published_at is not None) == published:
            return present(before, level)  # already so: nothing changes, no event
        row = await repository.set_published(conn, caller.tenant_id, dashboard_id, published)
        assert row is not None  # locked above
        event: Any
        if published:
            assert row.published_at is not None
            data: BaseModel = DashboardPublishedV1(
                version=row.version, published_at=row.published_at
            )
            event = _event("dashboard.published", caller, row, data)
        else:
            event = _event(
                "dashboard.unpublished", caller, row, DashboardUnpublishedV1(version=row.version)
            )
        await publish_in_tx(conn, event)
    return present(row, level)


# -- versions --------------------------------------------------------------------------------------


async def list_versions(
    pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID
) -> list[VersionSummary]:
    async with pool.acquire() as conn:
        await _load(conn, caller, dashboard_id, "view")
        records = await repository.list_versions(conn, caller.tenant_id, dashboard_id)
    return [VersionSummary(**dict(record)) for record in records]


async def get_version(
    pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID, version: int
) -> Version:
    async with pool.acquire() as conn:
        await _load(conn, caller, dashboard_id, "view")
        record = await repository.get_version(conn, caller.tenant_id, dashboard_id, version)
    if record is None:
        raise NotFound(f"the dashboard has no version {version}")
    values = dict(record)
    values["filters"] = values["filters"] or []
    return Version(**values)


async def restore_version(
    pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID, version: int, base_version: int | None
) -> Dashboard:
    """Make an old version's content the dashboard's new version."""
    async with pool.acquire() as conn, conn.transaction():
        before, level = await _load(conn, caller, dashboard_id, "edit", for_update=True)
        old = await repository.get_version(conn, caller.tenant_id, dashboard_id, version)
        if old is None:
            raise NotFound(f"the dashboard has no version {version}")
        expected = before.version if base_version is None else base_version
        restored = _row_content(old)
        if restored["is_public"] != before.is_public and not access.at_least(level, "share"):
            raise Forbidden("this restore changes is_public, which needs share rights")
        after = await repository.update_content(
            conn,
            caller.tenant_id,
            dashboard_id,
            expected_version=expected,
            content=Content(**restored),
        )
        if after is None:
            raise version_conflict(before.version, expected)
        await repository.insert_version(conn, after, created_by=caller.user_id)
        await publish_in_tx(
            conn,
            _event(
                "dashboard.restored",
                caller,
                after,
                DashboardRestoredV1(version=after.version, restored_from_version=version),
            ),
        )
    return present(after, level)


# -- sharing ---------------------------------------------------------------------------------------


def grant_of(record: asyncpg.Record) -> Grant:
    values = dict(record)
    values["permission"] = values.pop("permission_type")
    return Grant(**values)


async def list_grants(pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID) -> list[Grant]:
    async with pool.acquire() as conn:
        await _load(conn, caller, dashboard_id, "share")
        return [grant_of(record) for record in await repository.list_grants(conn, dashboard_id)]


async def grant(pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID, body: GrantCreate) -> Grant:
    async with pool.acquire() as conn, conn.transaction():
        row, level = await _load(conn, caller, dashboard_id, "share", for_update=True)
        if not access.at_least(level, body.permission):
            raise Forbidden(f"you cannot grant {body.permission}: you have {level}")
        record = await repository.upsert_grant(
            conn,
            dashboard_id,
            user_id=body.user_id,
            role_id=body.role_id,
            permission=body.permission,
            granted_by=caller.user_id,
        )
        result = grant_of(record)
        await publish_in_tx(
            conn,
            _event(
                "dashboard.shared",
                caller,
                row,
                DashboardSharedV1(
                    grant_id=result.id,
                    grantee_type="user" if result.user_id else "role",
                    grantee_id=result.user_id or result.role_id,
                    permission=result.permission,
                ),
            ),
        )
    return result


async def revoke(pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID, grant_id: UUID) -> None:
    async with pool.acquire() as conn, conn.transaction():
        row, level = await _load(conn, caller, dashboard_id, "share", for_update=True)
        record = await repository.delete_grant(conn, dashboard_id, grant_id)
        if record is None:
            raise NotFound("no such grant on this dashboard")
        removed = grant_of(record)
        if not access.at_least(level, removed.permission):
            raise Forbidden(f"you cannot revoke a {removed.permission} grant: you have {level}")
        await publish_in_tx(conn, unshared_event(caller, row.tenant_id, removed))


def unshared_event(caller: Caller | None, tenant_id: UUID, removed: Grant) -> Any:
    return make_event(
        "dashboard.unshared",
        tenant_id=tenant_id,
        subject_id=removed.dashboard_id,
        data=DashboardUnsharedV1(
            grant_id=removed.id,
            grantee_type="user" if removed.user_id else "role",
            grantee_id=removed.user_id or removed.role_id,
            permission=removed.permission,
        ),
        actor_id=caller.user_id if caller else None,
        session_id=caller.session_id if caller else None,
    )


# -- listing ---------------------------------------------------------------------------------------


def visibility(caller: Caller) -> Visibility:
    clauses = access.visible_conditions(caller)
    if any(clause is None for clause in clauses):
        return Visibility(user_id=caller.user_id, role_id=caller.role_id, everything=True)
    return Visibility(
        user_id=caller.user_id,
        role_id=caller.role_id,
        clauses=tuple(clause for clause in clauses if clause is not None),
    )


def encode_cursor(sort: str, record: asyncpg.Record) -> str:
    value = record[sort.lstrip("-")]
    payload = {
        "s": sort,
        "v": value.isoformat() if isinstance(value, datetime) else value,
        "id": str(record["id"]),
    }
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if payload["s"] != sort:
            raise ValueError("cursor made for another sort order")
        value = payload["v"]
        if sort.lstrip("-") == "updated_at":
            value = datetime.fromisoformat(value)
        elif not isinstance(value, str):
            raise ValueError("bad cursor value")
        return value, uuid.UUID(payload["id"])
    except (ValueError, KeyError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise Invalid(
            "invalid cursor: pass back next_cursor unchanged", code="invalid_cursor"
        ) from error


async def search(
    pool: asyncpg.Pool, caller: Caller, query: SearchQuery, cursor: str | None
) -> DashboardPage:
    if cursor:
        query = SearchQuery(**{**query.__dict__, "after": decode_cursor(cursor, query.sort)})
    async with pool.acquire() as conn:
        records = await repository.search(conn, caller.tenant_id, visibility(caller), query)
    page, more = records[: query.limit], len(records) > query.limit
    return DashboardPage(
        items=[DashboardSummary(**dict(record)) for record in page],
        next_cursor=encode_cursor(query.sort, page[-1]) if more and page else None,
    )


# -- import / export -------------------------------------------------------------------------------


async def export_dashboard(
    pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID
) -> ExportedDashboard:
    async with pool.acquire() as conn:
        row, _ = await _load(conn, caller, dashboard_id, "view")
    content = _row_content(row)
    content["filters"] = content["filters"] or []
    return ExportedDashboard(dashboard=DashboardContent.model_validate(content))


def remap_ids(content: DashboardContent, saved_queries: dict[UUID, UUID]) -> DashboardContent:
    """Fresh component and filter ids (references follow them), saved queries through the map."""
    components = {c.id: f"c{uuid.uuid4().hex[:12]}" for c in content.components}
    filters = {f.id: f"f{uuid.uuid4().hex[:12]}" for f in content.filters}
    document = content.model_dump(mode="json")
    for component in document["components"]:
        component["id"] = components[component["id"]]
        if "filter_id" in component:
            component["filter_id"] = filters.get(component["filter_id"], component["filter_id"])
        if component.get("saved_query_id"):
            old = UUID(component["saved_query_id"])
            component["saved_query_id"] = str(saved_queries.get(old, old))
        if "parameter_bindings" in component:
            component["parameter_bindings"] = {
                name: filters.get(filter_id, filter_id)
                for name, filter_id in component["parameter_bindings"].items()
            }
    for filter_ in document["filters"]:
        filter_["id"] = filters[filter_["id"]]
        filter_["targets"] = [components.get(t, t) for t in filter_["targets"]]
    for item in document["layout"]["items"]:
        item["component_id"] = components.get(item["component_id"], item["component_id"])
    try:
        return DashboardContent.model_validate(document)
    except ValidationError as error:  # cannot happen for a valid input; say so if it does
        raise Invalid("the imported dashboard could not be remapped", details=str(error)) from error


async def import_dashboard(
    pool: asyncpg.Pool, caller: Caller, exported: ExportedDashboard, saved_queries: dict[UUID, UUID]
) -> Dashboard:
    check_references(exported.dashboard, ("body", "dashboard"))
    return await create_dashboard(pool, caller, remap_ids(exported.dashboard, saved_queries))
