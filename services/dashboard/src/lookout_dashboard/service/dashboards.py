"""Dashboards: create, open (a view), update as a new version, publish, delete, and search."""

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
    DashboardUnpublishedV1,
    DashboardUpdatedV1,
    DashboardViewedV1,
)
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import Conflict, Forbidden, Invalid
from lookout_kit.outbox import publish_in_tx, publish_standalone
from pydantic import BaseModel

from lookout_dashboard.repository import dashboards, versions
from lookout_dashboard.repository.dashboards import (
    VERSIONED_FIELDS,
    Content,
    DashboardRow,
    SearchQuery,
)
from lookout_dashboard.schemas.dashboards import (
    Dashboard,
    DashboardContent,
    DashboardPage,
    DashboardSummary,
)
from lookout_dashboard.schemas.document import Document, reference_errors
from lookout_dashboard.service import access


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


def event_of(type_: str, caller: Caller, row: DashboardRow, data: BaseModel) -> Any:
    """The event ``type_`` about ``row``, done by ``caller`` in its session."""
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
    return event_of(
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


async def create_dashboard(pool: asyncpg.Pool, caller: Caller, body: DashboardContent) -> Dashboard:
    check_references(body)
    if not access.may_create(caller, body.tags):
        raise Forbidden("your role may not create dashboards")
    async with pool.acquire() as conn, conn.transaction():
        row = await dashboards.insert_dashboard(
            conn, tenant_id=caller.tenant_id, owner_id=caller.user_id, content=content_of(body)
        )
        await versions.insert_version(conn, row, created_by=caller.user_id)
        await publish_in_tx(
            conn,
            event_of(
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
    return Dashboard.from_row(row, "admin")


async def view_dashboard(
    pool: asyncpg.Pool, events_pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID
) -> Dashboard:
    """Open a dashboard: records ``dashboard.viewed`` (what usage analytics count)."""
    # The hot path: one read (dashboard and grants), then one write (the event), no transaction.
    async with pool.acquire() as conn:
        row, level = await access.load(conn, caller, dashboard_id, "view")
    viewed = event_of("dashboard.viewed", caller, row, DashboardViewedV1(version=row.version))
    await publish_standalone(events_pool, viewed)
    return Dashboard.from_row(row, level)


async def update_dashboard(
    pool: asyncpg.Pool,
    caller: Caller,
    dashboard_id: UUID,
    body: DashboardContent,
    base_version: int,
) -> Dashboard:
    check_references(body)
    async with pool.acquire() as conn, conn.transaction():
        before, level = await access.load(conn, caller, dashboard_id, "edit", for_update=True)
        if before.is_public != body.is_public and not access.at_least(level, "share"):
            raise Forbidden("making a dashboard public or private needs share rights")
        after = await dashboards.update_content(
            conn,
            caller.tenant_id,
            dashboard_id,
            expected_version=base_version,
            content=content_of(body),
        )
        if after is None:
            raise version_conflict(before.version, base_version)
        await versions.insert_version(conn, after, created_by=caller.user_id)
        await publish_in_tx(conn, _updated_event(caller, before, after))
    return Dashboard.from_row(after, level)


async def delete_dashboard(pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID) -> None:
    async with pool.acquire() as conn, conn.transaction():
        row, level = await access.load(conn, caller, dashboard_id, "view", for_update=True)
        if not access.may_delete(
            caller, level, access.target(row.tenant_id, row.id, row.owner_id, row.tags)
        ):
            raise Forbidden("deleting a dashboard needs admin rights on it")
        await dashboards.delete_dashboard(conn, caller.tenant_id, dashboard_id)
        await publish_in_tx(conn, event_of("dashboard.deleted", caller, row, DashboardDeletedV1()))


async def set_published(
    pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID, published: bool
) -> Dashboard:
    async with pool.acquire() as conn, conn.transaction():
        before, level = await access.load(conn, caller, dashboard_id, "edit", for_update=True)
        if (before.published_at is not None) == published:
            return Dashboard.from_row(before, level)  # already so: nothing changes, no event
        row = await dashboards.set_published(conn, caller.tenant_id, dashboard_id, published)
        assert row is not None  # locked above
        event: Any
        if published:
            assert row.published_at is not None
            data: BaseModel = DashboardPublishedV1(
                version=row.version, published_at=row.published_at
            )
            event = event_of("dashboard.published", caller, row, data)
        else:
            event = event_of(
                "dashboard.unpublished", caller, row, DashboardUnpublishedV1(version=row.version)
            )
        await publish_in_tx(conn, event)
    return Dashboard.from_row(row, level)


# -- search ----------------------------------------------------------------------------------------


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
        records = await dashboards.search(conn, caller.tenant_id, access.visibility(caller), query)
    page, more = records[: query.limit], len(records) > query.limit
    return DashboardPage(
        items=[DashboardSummary(**dict(record)) for record in page],
        next_cursor=encode_cursor(query.sort, page[-1]) if more and page else None,
    )
