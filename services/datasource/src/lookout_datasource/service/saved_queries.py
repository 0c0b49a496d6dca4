"""Saved queries: create, list, open, update, delete in the caller's tenant, with typed parameters.

A saved query's data source must be one of the caller's tenant that the caller can see (422
``unknown_data_source`` otherwise). Every change writes its event (``saved_query.created/updated/
deleted``) to the outbox in the same transaction; events carry neither the text nor parameters.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from lookout_contracts.events.datasource import (
    SavedQueryCreatedV1,
    SavedQueryDeletedV1,
    SavedQueryUpdatedV1,
)
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import Forbidden, Invalid
from lookout_kit.outbox import publish_in_tx

from lookout_datasource.repository import data_sources, saved_queries
from lookout_datasource.repository.saved_queries import (
    CONTENT_FIELDS,
    Content,
    SavedQueryRow,
    SearchQuery,
)
from lookout_datasource.schemas.saved_queries import (
    SavedQuery,
    SavedQueryCreate,
    SavedQueryPage,
    SavedQuerySummary,
    SavedQueryUpdate,
)
from lookout_datasource.service import access
from lookout_datasource.service.access import Level
from lookout_datasource.service.cursors import decode_cursor, encode_cursor
from lookout_datasource.service.data_sources import check_version, event_of


def updated_event(
    caller: Caller | None, row: SavedQueryRow, changed_fields: tuple[str, ...]
) -> Any:
    data = SavedQueryUpdatedV1(
        name=row.name,
        data_source_id=row.data_source_id,
        owner_id=row.user_id,
        is_public=row.is_public,
        changed_fields=changed_fields,
    )
    return event_of("saved_query.updated", caller, row, data)


async def check_data_source(conn: asyncpg.Connection, caller: Caller, data_source_id: UUID) -> None:
    """422 unless ``data_source_id`` is a source of the caller's tenant that the caller can see."""
    row = await data_sources.get_data_source(conn, caller.tenant_id, data_source_id)
    if row is None or not access.may_see_source(caller, row):
        raise Invalid(
            "data_source_id is not a data source of your tenant that you can use",
            code="unknown_data_source",
            details=[
                {
                    "loc": ["body", "data_source_id"],
                    "msg": "no such data source",
                    "type": "unknown_data_source",
                }
            ],
        )


async def load_saved_query(
    conn: asyncpg.Connection,
    caller: Caller,
    saved_query_id: UUID,
    needed: Level,
    *,
    for_update: bool = False,
) -> tuple[SavedQueryRow, Level]:
    """The caller's tenant's saved query and the caller's level on it: 404 if the caller cannot
    see it, 403 if it can but is below ``needed`` (``view`` is what running it needs)."""
    row = await saved_queries.get_saved_query(
        conn, caller.tenant_id, saved_query_id, for_update=for_update
    )
    return access.check_query(caller, row, needed)


def _parameters(body: SavedQueryCreate | SavedQueryUpdate) -> list[dict[str, Any]]:
    return [parameter.model_dump(mode="json") for parameter in body.parameters or []]


async def create_saved_query(
    pool: asyncpg.Pool, caller: Caller, body: SavedQueryCreate
) -> SavedQuery:
    if not access.may_create_query(caller):
        raise Forbidden("your role may not create saved queries")
    content = Content(
        name=body.name,
        description=body.description,
        query_text=body.query_text,
        parameters=_parameters(body),
        data_source_id=body.data_source_id,
        is_public=body.is_public,
    )
    async with pool.acquire() as conn, conn.transaction():
        await check_data_source(conn, caller, body.data_source_id)
        row = await saved_queries.insert_saved_query(
            conn, tenant_id=caller.tenant_id, user_id=caller.user_id, content=content
        )
        data = SavedQueryCreatedV1(
            name=row.name,
            data_source_id=row.data_source_id,
            owner_id=row.user_id,
            is_public=row.is_public,
        )
        await publish_in_tx(conn, event_of("saved_query.created", caller, row, data))
    return SavedQuery.from_row(row, "admin")


async def get_saved_query(pool: asyncpg.Pool, caller: Caller, saved_query_id: UUID) -> SavedQuery:
    async with pool.acquire() as conn:
        row, level = await load_saved_query(conn, caller, saved_query_id, "view")
    return SavedQuery.from_row(row, level)


async def list_saved_queries(
    pool: asyncpg.Pool,
    caller: Caller,
    *,
    limit: int,
    cursor: str | None,
    data_source_id: UUID | None,
    text: str | None,
) -> SavedQueryPage:
    query = SearchQuery(
        limit=limit,
        data_source_id=data_source_id,
        text=text,
        after=decode_cursor(cursor) if cursor else None,
    )
    async with pool.acquire() as conn:
        rows = await saved_queries.list_saved_queries(
            conn, caller.tenant_id, access.query_visibility(caller), query
        )
    page, more = rows[:limit], len(rows) > limit
    return SavedQueryPage(
        items=[SavedQuerySummary.from_row(row) for row in page],
        next_cursor=encode_cursor(page[-1].name, page[-1].id) if more and page else None,
    )


async def update_saved_query(
    pool: asyncpg.Pool,
    caller: Caller,
    saved_query_id: UUID,
    body: SavedQueryUpdate,
    expected_version: int | None = None,
) -> SavedQuery:
    given = body.model_fields_set
    async with pool.acquire() as conn, conn.transaction():
        before, level = await load_saved_query(
            conn, caller, saved_query_id, "edit", for_update=True
        )
        check_version(before.version, expected_version)
        content = Content(
            name=body.name if body.name is not None else before.name,
            description=body.description if "description" in given else before.description,
            query_text=body.query_text if body.query_text is not None else before.query_text,
            parameters=_parameters(body)
            if body.parameters is not None
            else before.parameters or [],
            data_source_id=body.data_source_id or before.data_source_id,
            is_public=body.is_public if body.is_public is not None else before.is_public,
        )
        changed = tuple(
            field
            for field in CONTENT_FIELDS
            if getattr(content, field)
            != (getattr(before, field) if field != "parameters" else before.parameters or [])
        )
        if not changed:
            return SavedQuery.from_row(before, level)  # nothing changes: no new version, no event
        if "is_public" in changed and not access.may_share_query(caller, before, level):
            raise Forbidden("making a saved query public or private needs admin or share rights")
        if "data_source_id" in changed:
            await check_data_source(conn, caller, content.data_source_id)
        after = await saved_queries.update_saved_query(
            conn, caller.tenant_id, saved_query_id, content
        )
        await publish_in_tx(conn, updated_event(caller, after, changed))
    return SavedQuery.from_row(after, level)


async def delete_saved_query(pool: asyncpg.Pool, caller: Caller, saved_query_id: UUID) -> None:
    async with pool.acquire() as conn, conn.transaction():
        row, level = await load_saved_query(conn, caller, saved_query_id, "view", for_update=True)
        if not access.may_delete_query(caller, row, level):
            raise Forbidden("deleting a saved query needs admin or delete rights on it")
        await saved_queries.delete_saved_query(conn, caller.tenant_id, row.id)
        await publish_in_tx(
            conn, event_of("saved_query.deleted", caller, row, SavedQueryDeletedV1())
        )
