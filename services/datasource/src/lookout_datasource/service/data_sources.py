"""Data sources: create, list, open, update, delete in the caller's tenant; and what execution
needs (``load_data_source``, ``require_execute``, ``get_data_source_with_secrets``).

Every change writes its event (``data_source.created/updated/deleted``) to the outbox in the same
transaction; no event carries a connection setting or a secret.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any, Protocol
from uuid import UUID

import asyncpg
from lookout_contracts import make_event
from lookout_contracts.events.datasource import (
    DataSourceCreatedV1,
    DataSourceDeletedV1,
    DataSourceUpdatedV1,
)
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import Conflict, Forbidden, NotFound
from lookout_kit.outbox import publish_in_tx
from lookout_kit.secret_box import SecretBox
from pydantic import BaseModel

from lookout_datasource.repository import data_source_schemas, data_sources, saved_queries
from lookout_datasource.repository.data_sources import DataSourceRow
from lookout_datasource.schemas.data_sources import (
    DataSource,
    DataSourceCreate,
    DataSourcePage,
    DataSourceUpdate,
)
from lookout_datasource.service import access, connections
from lookout_datasource.service.access import DataSourceAction
from lookout_datasource.service.connectors.base import ConnectionConfig
from lookout_datasource.service.cursors import decode_cursor, encode_cursor

logger = logging.getLogger("lookout.datasource.data_sources")


def shown(row: DataSourceRow) -> DataSource:
    """The source as a response shows it: secrets masked."""
    return DataSource.from_row(row, connections.secret_fields(row.type))


class Subject(Protocol):
    """What an event is about: a row of this service's tables (a data source, a saved query)."""

    @property
    def tenant_id(self) -> UUID: ...

    @property
    def id(self) -> UUID: ...


def event_of(type_: str, caller: Caller | None, row: Subject, data: BaseModel) -> Any:
    """The event ``type_`` about ``row``, done by ``caller`` in its session (None: by a reaction)."""
    return make_event(
        type_,
        tenant_id=row.tenant_id,
        subject_id=row.id,
        data=data,
        actor_id=caller.user_id if caller else None,
        session_id=caller.session_id if caller else None,
    )


def updated_event(
    caller: Caller | None, row: DataSourceRow, changed_fields: tuple[str, ...]
) -> Any:
    data = DataSourceUpdatedV1(
        name=row.name,
        owner_id=row.owner_id,
        changed_fields=changed_fields,
    )
    return event_of("data_source.updated", caller, row, data)


def check_version(current: int, expected: int | None) -> None:
    """409 ``version_conflict`` when an update based on version ``expected`` (``If-Match``) meets
    the object at another version (the row is locked: the check holds until commit)."""
    if expected is not None and expected != current:
        raise Conflict(
            f"it is at version {current}, not {expected}: reload and retry",
            code="version_conflict",
            details={"current_version": current},
        )


def name_taken(name: str) -> Conflict:
    return Conflict(
        f"the tenant already has a data source named {name!r}", code="data_source_name_taken"
    )


async def load_data_source(
    conn: asyncpg.Connection,
    caller: Caller,
    data_source_id: UUID,
    action: DataSourceAction,
    *,
    for_update: bool = False,
) -> DataSourceRow:
    """The caller's tenant's source if the caller may do ``action`` on it (404 if it cannot see
    it, 403 if it can but lacks the action)."""
    row = await data_sources.get_data_source(
        conn, caller.tenant_id, data_source_id, for_update=for_update
    )
    return access.check_source(caller, row, action)


def require_execute(caller: Caller, data_source: DataSourceRow) -> None:
    """Raise unless the caller may run queries on ``data_source`` (404 if it cannot even see it,
    403 if it can but lacks ``data_source:execute``)."""
    access.check_source(caller, data_source, "execute")


async def get_data_source_with_secrets(
    conn: asyncpg.Connection,
    box: SecretBox,
    tenant_id: UUID,
    data_source_id: UUID,
    *,
    opener: Callable[[DataSourceRow], ConnectionConfig] | None = None,
) -> tuple[DataSourceRow, ConnectionConfig]:
    """The tenant's source and its full settings with the secrets opened (for a connector only:
    never log or return them) by ``opener`` (the engine's cache) or ``box``. 404 when the tenant
    has no such source. No permission check: the caller has made it (``load_data_source`` /
    ``require_execute``)."""
    row = await data_sources.get_data_source(conn, tenant_id, data_source_id)
    if row is None:
        raise NotFound(access.NO_DATA_SOURCE)
    return row, opener(row) if opener is not None else connections.open_config(box, row)


async def create_data_source(
    pool: asyncpg.Pool, box: SecretBox, caller: Caller, body: DataSourceCreate
) -> DataSource:
    if not access.may_create_source(caller):
        raise Forbidden("your role may not create data sources")
    config = connections.validate(body.type, body.connection_config)
    data_source_id = uuid.uuid4()
    connection = connections.seal(box, data_source_id, config)
    async with pool.acquire() as conn, conn.transaction():
        row = await data_sources.insert_data_source(
            conn,
            id=data_source_id,
            tenant_id=caller.tenant_id,
            owner_id=caller.user_id,
            name=body.name,
            type=body.type,
            connection=connection,
        )
        if row is None:
            raise name_taken(body.name)
        data = DataSourceCreatedV1(name=row.name, type=body.type, owner_id=row.owner_id)
        await publish_in_tx(conn, event_of("data_source.created", caller, row, data))
    logger.info(
        "data source created",
        extra={"data_source_id": str(row.id), "type": row.type, "tenant_id": str(row.tenant_id)},
    )
    return shown(row)


async def get_data_source(pool: asyncpg.Pool, caller: Caller, data_source_id: UUID) -> DataSource:
    async with pool.acquire() as conn:
        return shown(await load_data_source(conn, caller, data_source_id, "read"))


async def list_data_sources(
    pool: asyncpg.Pool, caller: Caller, *, limit: int, cursor: str | None
) -> DataSourcePage:
    after = decode_cursor(cursor) if cursor else None
    async with pool.acquire() as conn:
        rows = await data_sources.list_data_sources(
            conn, caller.tenant_id, access.source_visibility(caller), limit=limit, after=after
        )
    page, more = rows[:limit], len(rows) > limit
    return DataSourcePage(
        items=[shown(row) for row in page],
        next_cursor=encode_cursor(page[-1].name, page[-1].id) if more and page else None,
    )


async def update_data_source(
    pool: asyncpg.Pool,
    box: SecretBox,
    caller: Caller,
    data_source_id: UUID,
    body: DataSourceUpdate,
    expected_version: int | None = None,
) -> DataSource:
    async with pool.acquire() as conn, conn.transaction():
        before = await load_data_source(conn, caller, data_source_id, "update", for_update=True)
        check_version(before.version, expected_version)
        current = connections.open_config(box, before)
        config = current
        if body.connection_config is not None:
            config = connections.merged(box, before, body.connection_config)
        changed_fields: list[str] = []
        if body.name is not None and body.name != before.name:
            changed_fields.append("name")
        if config != current:
            changed_fields.append("connection_config")
        if not changed_fields:
            return shown(before)  # nothing changes: no new version, no event
        after = await data_sources.update_data_source(
            conn,
            caller.tenant_id,
            data_source_id,
            name=body.name or before.name,
            connection=connections.seal(box, before.id, config),
        )
        if after is None:
            raise name_taken(body.name or before.name)
        await publish_in_tx(conn, updated_event(caller, after, tuple(changed_fields)))
        if "connection_config" in changed_fields:
            # Perhaps another database now: the schema browser's refresh reads it soon.
            await data_source_schemas.make_due(conn, caller.tenant_id, after.id)
    logger.info(
        "data source updated",
        extra={"data_source_id": str(after.id), "changed_fields": changed_fields},
    )
    return shown(after)


async def delete_data_source(pool: asyncpg.Pool, caller: Caller, data_source_id: UUID) -> None:
    """Delete a source that no saved query uses (409 ``data_source_in_use`` otherwise)."""
    async with pool.acquire() as conn, conn.transaction():
        row = await load_data_source(conn, caller, data_source_id, "delete", for_update=True)
        used_by = await saved_queries.count_on_data_source(conn, caller.tenant_id, row.id)
        if used_by:
            raise Conflict(
                f"{used_by} saved queries use this data source: delete or move them first",
                code="data_source_in_use",
                details={"saved_queries": used_by},
            )
        await data_sources.delete_data_source(conn, caller.tenant_id, row.id)
        await publish_in_tx(
            conn, event_of("data_source.deleted", caller, row, DataSourceDeletedV1())
        )
    logger.info("data source deleted", extra={"data_source_id": str(row.id)})
