"""Connections per data source: one pool per source and config, a concurrency limit per source,
pools closed when idle or when the source's config changes. The service owns one
``ConnectorPools`` in its runtime and runs every connector call through it.

A pool's key is the source id and a hash of its kind and config (secrets included), so an update
of the config opens a new pool and closes the old one. ``close_idle`` (run periodically, and on
every use) closes the pools unused for ``idle_close_s``. The limit is per source id: at most
``max_concurrency`` executions and introspections of one source run at once; one that waits
longer than its timeout for a slot fails with ``timeout`` (the source is busy).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from pydantic import Field

from lookout_datasource.service.connectors import registry
from lookout_datasource.service.connectors.base import (
    ColumnInfo,
    ConnectionConfig,
    Connector,
    QueryResult,
    QueryTimeout,
    ServerInfo,
    SourcePool,
)
from lookout_datasource.service.egress import EgressPolicy, EgressSettings


class ConnectorSettings(EgressSettings):
    """The connectors' knobs, mixed into the service's settings:
    ``class Settings(ConnectorSettings, SecretBoxSettings, AuthSettings, ServiceSettings)``,
    then ``ConnectorPools.from_settings(settings)``."""

    pool_max_concurrency: int = Field(
        default=4, ge=1, le=64, description="Executions of one data source at once"
    )
    pool_idle_close_s: float = Field(
        default=300.0, gt=0, description="A source's pool unused this long is closed"
    )


def config_key(kind: str, config: ConnectionConfig) -> str:
    """A hash of ``kind`` and every field of ``config``, secrets included (never stored)."""
    fields = json.dumps([kind, config.fingerprint_fields()], sort_keys=True, default=str)
    return hashlib.sha256(fields.encode()).hexdigest()


@dataclass
class _Source:
    slots: asyncio.Semaphore
    key: str = ""
    pool: SourcePool | None = None
    in_use: int = 0
    last_used: float = field(default_factory=time.monotonic)


class ConnectorPools:
    def __init__(
        self,
        egress: EgressPolicy,
        *,
        max_concurrency: int = 4,
        idle_close_s: float = 300.0,
    ) -> None:
        self.egress = egress
        self.max_concurrency = max_concurrency
        self.idle_close_s = idle_close_s
        self._connectors: dict[str, Connector] = {}
        self._sources: dict[UUID, _Source] = {}
        self._keys: dict[int, tuple[ConnectionConfig, str]] = {}
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: ConnectorSettings) -> ConnectorPools:
        return cls(
            EgressPolicy.from_settings(settings),
            max_concurrency=settings.pool_max_concurrency,
            idle_close_s=settings.pool_idle_close_s,
        )

    def connector(self, kind: str) -> Connector:
        if kind not in self._connectors:
            self._connectors[kind] = registry.connector(kind, self.egress)
        return self._connectors[kind]

    def open_sources(self) -> int:
        """How many sources have a pool open (for metrics and tests)."""
        return sum(1 for source in self._sources.values() if source.pool is not None)

    def _key(self, kind: str, config: ConnectionConfig) -> str:
        """``config_key``, once per config object (the engine hands the same one to every
        execution of a source's version); the object is held, so its id is not reused."""
        known = self._keys.get(id(config))
        if known is not None and known[0] is config:
            return known[1]
        if len(self._keys) >= 1_000:
            self._keys.clear()
        key = config_key(kind, config)
        self._keys[id(config)] = (config, key)
        return key

    async def _pool(self, source_id: UUID, kind: str, config: ConnectionConfig) -> SourcePool:
        """The source's pool for this config; a pool of an older config is closed."""
        key = self._key(kind, config)
        stale: SourcePool | None = None
        async with self._lock:
            source = self._sources[source_id]
            if source.pool is not None and source.key != key:
                stale, source.pool = source.pool, None
            if source.pool is None:
                source.pool = await self.connector(kind).open_pool(
                    config, max_size=self.max_concurrency
                )
                source.key = key
            pool = source.pool
        if stale is not None:
            await stale.close()  # waits for the executions still on it
        return pool

    async def _run(
        self, source_id: UUID, kind: str, config: ConnectionConfig, wait_s: float, call: Any
    ) -> Any:
        await self.close_idle()
        source = self._sources.setdefault(
            source_id, _Source(slots=asyncio.Semaphore(self.max_concurrency))
        )
        source.in_use += 1
        try:
            try:
                async with asyncio.timeout(wait_s):
                    await source.slots.acquire()
            except TimeoutError:
                raise QueryTimeout("the data source is busy: no free slot in time") from None
            try:
                pool = await self._pool(source_id, kind, config)
                return await call(pool)
            finally:
                source.slots.release()
        finally:
            source.in_use -= 1
            source.last_used = time.monotonic()

    async def test(self, kind: str, config: ConnectionConfig) -> ServerInfo:
        """A new connection (a pool's could hide a change), its server version and latency."""
        return await self.connector(kind).test(config)

    async def introspect(
        self, source_id: UUID, kind: str, config: ConnectionConfig
    ) -> list[ColumnInfo]:
        async def call(pool: SourcePool) -> list[ColumnInfo]:
            return await self.connector(kind).introspect(config, pool=pool)

        found: list[ColumnInfo] = await self._run(source_id, kind, config, 60.0, call)
        return found

    async def execute(
        self,
        source_id: UUID,
        kind: str,
        config: ConnectionConfig,
        sql: str,
        parameters: dict[str, Any],
        *,
        row_limit: int,
        timeout_s: float,
        execution_id: UUID,
    ) -> QueryResult:
        async def call(pool: SourcePool) -> QueryResult:
            return await self.connector(kind).execute(
                config,
                sql,
                parameters,
                row_limit=row_limit,
                timeout_s=timeout_s,
                execution_id=execution_id,
                pool=pool,
            )

        found: QueryResult = await self._run(source_id, kind, config, timeout_s, call)
        return found

    async def cancel(self, kind: str, config: ConnectionConfig, execution_id: UUID) -> bool:
        """Stop ``execution_id`` on the server, wherever it runs; whether it was running."""
        return await self.connector(kind).cancel(config, execution_id)

    async def close_source(self, source_id: UUID) -> None:
        """Close the source's pool (its config changed, or it was deleted)."""
        async with self._lock:
            source = self._sources.get(source_id)
            if source is None or source.pool is None:
                return
            pool, source.pool = source.pool, None
            if source.in_use == 0:
                del self._sources[source_id]
        await pool.close()

    async def close_idle(self, now: float | None = None) -> int:
        """Close the pools unused for ``idle_close_s``; how many were closed."""
        now = time.monotonic() if now is None else now
        idle = [
            source_id
            for source_id, source in self._sources.items()
            if source.pool is not None
            and source.in_use == 0
            and now - source.last_used >= self.idle_close_s
        ]
        for source_id in idle:
            await self.close_source(source_id)
        return len(idle)

    async def close(self) -> None:
        for source_id in list(self._sources):
            await self.close_source(source_id)
