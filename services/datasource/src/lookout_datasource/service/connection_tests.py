"""Test connection: connect to a data source through the egress policy, answer the server's
version and latency or why it cannot be used (a stable code, a message without the password or a
stack trace), and keep the outcome: ``status`` (``active`` / ``error``), ``last_tested_at`` and a
``data_source.tested`` event in the same transaction.

A failed test is an answer, not a failed request (Grafana's "Save & test" does the same): 200
with ``succeeded: false`` and the error. Testing needs ``update`` or ``execute`` on the source.
"""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

import asyncpg
from lookout_contracts.events.datasource import DataSourceTestedV1
from lookout_kit.auth.caller import Caller
from lookout_kit.auth.policy import can
from lookout_kit.errors import Forbidden, NotFound
from lookout_kit.outbox import publish_in_tx
from lookout_kit.secret_box import SecretBox

from lookout_datasource.repository import data_sources
from lookout_datasource.repository.data_sources import DataSourceRow
from lookout_datasource.schemas.schema_browser import ConnectionTest, Problem
from lookout_datasource.service import access, connections
from lookout_datasource.service.connectors.base import (
    ConnectionConfig,
    ConnectorError,
    QueryTimeout,
    ServerInfo,
    scrubbed,
)
from lookout_datasource.service.connectors.pools import ConnectorPools
from lookout_datasource.service.data_sources import event_of

logger = logging.getLogger("lookout.datasource.connection_tests")

GRACE_S = 5.0
"""How long past its own connect timeout a test may take before it is a ``timeout``."""


def check_connect(caller: Caller, row: DataSourceRow | None) -> DataSourceRow:
    """``row`` if the caller may make this service connect to it (``update`` or ``execute``):
    404 if it cannot see it, 403 if it can but has neither."""
    if row is None or row.tenant_id != caller.tenant_id or not access.may_see_source(caller, row):
        raise NotFound(access.NO_DATA_SOURCE)
    target = access.source_target(row)
    if not any(can(caller, action, access.DATA_SOURCE, target) for action in ("update", "execute")):
        raise Forbidden("connecting to this data source needs update or execute rights on it")
    return row


def problem_of(error: Exception, config: ConnectionConfig, data_source_id: UUID) -> Problem:
    """The error as a response shows it, every secret of ``config`` removed once more. A
    connector's error says what it is; anything else is a bug of ours, logged (scrubbed) and
    answered as ``connector_error`` without its details."""
    secrets = tuple(config.secret(name) for name in config.SECRET_FIELDS)
    if isinstance(error, ConnectorError):
        return Problem(code=error.code, message=scrubbed(error.message, secrets))
    logger.error(
        "unexpected error from a connector",
        extra={"data_source_id": str(data_source_id), "error": scrubbed(repr(error), secrets)},
    )
    return Problem(code=ConnectorError.code, message="the connector failed unexpectedly")


async def _server_info(pools: ConnectorPools, kind: str, config: ConnectionConfig) -> ServerInfo:
    try:
        async with asyncio.timeout(config.connect_timeout_s + GRACE_S):
            return await pools.test(kind, config)
    except TimeoutError:
        raise QueryTimeout(
            f"the server did not answer within {config.connect_timeout_s + GRACE_S:g} s"
        ) from None


async def run_connection_test(
    pool: asyncpg.Pool,
    pools: ConnectorPools,
    box: SecretBox,
    caller: Caller,
    data_source_id: UUID,
) -> ConnectionTest:
    async with pool.acquire() as conn:
        row = check_connect(
            caller, await data_sources.get_data_source(conn, caller.tenant_id, data_source_id)
        )
    config = connections.open_config(box, row)
    info: ServerInfo | None = None
    problem: Problem | None = None
    try:
        info = await _server_info(pools, row.type, config)
    except Exception as error:  # a failed test is an answer (problem_of says which)
        problem = problem_of(error, config, row.id)
    # No connection of ours is held while the source answers (it may take seconds).
    async with pool.acquire() as conn, conn.transaction():
        tested = await data_sources.record_test(
            conn, caller.tenant_id, row.id, status="error" if problem else "active"
        )
        if tested is None:
            raise NotFound(access.NO_DATA_SOURCE)  # deleted while it was being tested
        data = DataSourceTestedV1(
            succeeded=problem is None,
            latency_ms=info.latency_ms if info else None,
            error=problem.message[:4000] if problem else None,
            error_code=problem.code if problem else None,
        )
        await publish_in_tx(conn, event_of("data_source.tested", caller, tested, data))
    assert tested.last_tested_at is not None
    logger.info(
        "data source tested",
        extra={
            "data_source_id": str(row.id),
            "succeeded": problem is None,
            "error_code": problem.code if problem else None,
        },
    )
    return ConnectionTest(
        succeeded=problem is None,
        server_version=info.version if info else None,
        latency_ms=info.latency_ms if info else None,
        error=problem,
        status=tested.status,
        tested_at=tested.last_tested_at,
    )
