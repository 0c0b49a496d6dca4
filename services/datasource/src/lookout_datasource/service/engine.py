"""What executions run on, one per process: the connection pools per source (with their
concurrency limit), the result cache, the secret box; built from the settings by ``app.py``,
closed with the service, handed to handlers by ``EngineDep``."""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass, field
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import Depends
from lookout_kit.app import Runtime
from lookout_kit.dependencies import component
from lookout_kit.lease import new_owner
from lookout_kit.secret_box import SecretBox
from lookout_kit.worker import IDLE, NextRound, Worker

from lookout_datasource.repository.data_sources import DataSourceRow
from lookout_datasource.service import connections
from lookout_datasource.service.connectors.base import ConnectionConfig
from lookout_datasource.service.connectors.pools import ConnectorPools
from lookout_datasource.service.execution_retention import prune_turn
from lookout_datasource.service.result_cache import ResultCache
from lookout_datasource.settings import Settings

MAX_OPEN_CONFIGS = 1_000
"""Sources whose opened settings a process keeps (all forgotten at once past it)."""
YOUNG_COLLECTION_THRESHOLD = 100_000
"""Container objects allocated (net) before the collector scans the young generation."""


def tune_gc() -> None:
    """A result of 10,000 rows holds some 20,000 container objects (the driver's records, the
    rows given to the encoder) for the time it takes to read and encode them: at the default
    threshold (700) the collector scans them ~30 times per result, promotes them, and then scans
    the older generations they reach. Each execution frees them when it ends, by reference counts:
    a young generation larger than a few results lets nearly all of them go unscanned. The kit
    already freezes what startup built; garbage in cycles waits longer (nothing here relies on
    its prompt release)."""
    threshold = gc.get_threshold()
    if threshold[0] < YOUNG_COLLECTION_THRESHOLD:
        gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *threshold[1:])


@dataclass
class Engine:
    settings: Settings
    pools: ConnectorPools
    box: SecretBox
    cache: ResultCache | None = None
    _idle_closer: Worker | None = None
    _pruner: Worker | None = None
    running: dict[UUID, asyncio.Task[Any]] = field(default_factory=dict)
    """The executions running in this replica, by id: a cancel that finds nothing on the server
    (the execution still waits for a slot or a connection) stops the task itself."""
    cancelled_here: set[UUID] = field(default_factory=set)
    _configs: dict[tuple[UUID, int, str | None], ConnectionConfig] = field(default_factory=dict)

    def open_config(self, row: DataSourceRow) -> ConnectionConfig:
        """The row's settings with its secrets opened, once per version of the source (an
        execution would otherwise decrypt and validate them every time); what a version's row
        holds never changes (every change of the source is a new version)."""
        key = (row.id, row.version, row.secrets)
        config = self._configs.get(key)
        if config is None:
            if len(self._configs) >= MAX_OPEN_CONFIGS:
                self._configs.clear()
            config = self._configs[key] = connections.open_config(self.box, row)
        return config

    def cancel_local(self, execution_id: UUID) -> bool:
        """Stop the task of ``execution_id`` if it runs in this replica; whether it did."""
        task = self.running.get(execution_id)
        if task is None or task.done():
            return False
        self.cancelled_here.add(execution_id)
        task.cancel()
        return True

    @classmethod
    def from_settings(cls, settings: Settings) -> Engine:
        pools = ConnectorPools.from_settings(settings)
        cache = None
        if settings.result_cache_url:
            cache = ResultCache(
                settings.result_cache_url,
                ttl_s=settings.result_cache_ttl_s,
                max_bytes=settings.result_cache_max_bytes,
            )
        return cls(settings=settings, pools=pools, box=settings.secret_box(), cache=cache)

    async def start(self, runtime: Runtime) -> None:
        """A kit component's start: close idle pools even when no execution comes to do it, and
        prune the execution records (``execution_retention``); the collector tuned for results."""
        tune_gc()
        self.start_workers(runtime.require_pool())

    def start_workers(self, pool: asyncpg.Pool | None = None) -> None:
        """The idle-pool closer; with ``pool``, the execution records' pruner too."""

        async def close_idle() -> NextRound:
            await self.pools.close_idle()
            return IDLE

        interval = max(1.0, min(60.0, self.settings.pool_idle_close_s / 2))
        self._idle_closer = Worker("datasource-idle-pools", close_idle, interval_s=interval)
        self._idle_closer.start()
        if pool is not None:
            owner = new_owner("datasource-executions-prune")

            async def prune() -> NextRound:
                await prune_turn(pool, self.settings, owner)
                return IDLE

            self._pruner = Worker(
                "datasource-executions-prune",
                prune,
                interval_s=max(1.0, self.settings.execution_prune_interval_s / 3),
                jitter=0.2,
            )
            self._pruner.start()

    async def stop(self) -> None:
        if self._pruner is not None:
            await self._pruner.stop()
        if self._idle_closer is not None:
            await self._idle_closer.stop()
        await self.pools.close()
        if self.cache is not None:
            await self.cache.close()


EngineDep = Annotated[Engine, Depends(component(Engine))]
