"""What identity's events change here: the references into identity's data kept true by events.

- ``tenant.deleted`` → the tenant's saved queries, then its data sources, are deleted;
- ``user.deleted`` → the user's private saved queries are deleted. With a ``successor_id``, the
  user's public saved queries and data sources move to the successor. Without one (identity names
  none only when the tenant itself goes), they are deleted too, and with each data source every
  saved query on it.

Each runs in the caller's transaction and writes its own events (``saved_query.deleted``,
``saved_query.updated``, ``data_source.deleted``, ``data_source.updated``) to the outbox; no actor
(identity did it). All are idempotent: a redelivered event finds nothing left to do.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from lookout_contracts import make_event
from lookout_contracts.events.datasource import DataSourceDeletedV1, SavedQueryDeletedV1
from lookout_kit.outbox import publish_many_in_tx

from lookout_datasource.repository import data_sources, saved_queries
from lookout_datasource.service.data_sources import updated_event as source_updated
from lookout_datasource.service.saved_queries import updated_event as query_updated


def _deleted(type_: str, tenant_id: UUID, ids: list[UUID], data: Any) -> list[Any]:
    return [make_event(type_, tenant_id=tenant_id, subject_id=id_, data=data) for id_ in ids]


async def _delete_sources(conn: asyncpg.Connection, tenant_id: UUID, ids: list[UUID]) -> list[Any]:
    """Delete these sources and every saved query on them; the events."""
    if not ids:
        return []
    queries = await saved_queries.delete_where(conn, tenant_id, data_source_ids=ids)
    await data_sources.delete_data_sources(conn, tenant_id, ids)
    return _deleted("saved_query.deleted", tenant_id, queries, SavedQueryDeletedV1()) + _deleted(
        "data_source.deleted", tenant_id, ids, DataSourceDeletedV1()
    )


async def on_tenant_deleted(conn: asyncpg.Connection, tenant_id: UUID) -> None:
    queries = await saved_queries.delete_where(conn, tenant_id)
    sources = await data_sources.delete_tenant(conn, tenant_id)
    await publish_many_in_tx(
        conn,
        _deleted("saved_query.deleted", tenant_id, queries, SavedQueryDeletedV1())
        + _deleted("data_source.deleted", tenant_id, sources, DataSourceDeletedV1()),
    )


async def on_user_deleted(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, successor_id: UUID | None
) -> None:
    private = await saved_queries.delete_where(conn, tenant_id, user_id=user_id, private_only=True)
    events = _deleted("saved_query.deleted", tenant_id, private, SavedQueryDeletedV1())
    if successor_id is None:
        public = await saved_queries.delete_where(conn, tenant_id, user_id=user_id)
        events += _deleted("saved_query.deleted", tenant_id, public, SavedQueryDeletedV1())
        owned = await data_sources.owned_by(conn, tenant_id, user_id)
        events += await _delete_sources(conn, tenant_id, owned)
    else:
        moved_queries = await saved_queries.move_saved_queries(
            conn, tenant_id, user_id, successor_id
        )
        events += [query_updated(None, row, ("owner_id",)) for row in moved_queries]
        moved_sources = await data_sources.move_data_sources(conn, tenant_id, user_id, successor_id)
        events += [source_updated(None, row, ("owner_id",)) for row in moved_sources]
    await publish_many_in_tx(conn, events)
