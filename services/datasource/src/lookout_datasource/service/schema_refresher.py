"""The periodic schema refresh: a kit ``Worker`` per replica whose round leases the sources due
(``lookout_kit.lease.claim_due`` over ``data_sources``, a few at a time), refreshes them
concurrently and sets each one's next run an interval later. Replicas share the work and never
refresh one source at the same time; a replica that dies mid-refresh holds its sources until
their lease expires. Started and stopped with the app as a kit component (``ScheduledSchemaRefresh``)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import asyncpg
from lookout_kit import lease
from lookout_kit.app import Runtime
from lookout_kit.worker import AT_ONCE, IDLE, NextRound, Worker

from lookout_datasource.repository.data_sources import DataSourceRow
from lookout_datasource.service.engine import Engine
from lookout_datasource.service.schema_browser import TABLE, LeaseLost, Refresher, refresh_claimed
from lookout_datasource.settings import Settings

logger = logging.getLogger("lookout.datasource.schema_refresher")

WORKER_NAME = "datasource-schema-refresh"


def refresher_of(settings: Settings, pool: asyncpg.Pool, engine: Engine) -> Refresher:
    """What a refresh runs on, as the settings say: the engine's connection pools and secret box."""
    return Refresher(
        pool=pool,
        pools=engine.pools,
        box=engine.box,
        interval=timedelta(seconds=settings.schema_refresh_interval_s),
        lease_s=settings.schema_refresh_lease_s,
    )


class SchemaRefresher:
    """One replica's periodic refresh. ``run_round`` is one pass (tests call it directly)."""

    def __init__(self, refresher: Refresher, *, batch: int, poll_interval_s: float) -> None:
        self.refresher = refresher
        self.batch = batch
        self.owner = lease.new_owner(WORKER_NAME)
        self.worker = Worker(WORKER_NAME, self.run_round, interval_s=poll_interval_s, jitter=0.2)

    @classmethod
    def from_settings(
        cls, settings: Settings, pool: asyncpg.Pool, engine: Engine
    ) -> SchemaRefresher:
        """The replica's refresher, on the engine's connection pools and secret box."""
        return cls(
            refresher_of(settings, pool, engine),
            batch=settings.schema_refresh_batch,
            poll_interval_s=settings.schema_refresh_poll_s,
        )

    async def run_round(self) -> NextRound:
        """Refresh the sources due now (up to ``batch``); at once again when there may be more."""
        claimed = await lease.claim_due(
            self.refresher.pool,
            TABLE,
            limit=self.batch,
            lease_s=self.refresher.lease_s,
            owner=self.owner,
        )
        await asyncio.gather(*(self._refresh(DataSourceRow.of(record)) for record in claimed))
        return AT_ONCE if len(claimed) == self.batch else IDLE

    async def _refresh(self, row: DataSourceRow) -> None:
        try:
            await refresh_claimed(self.refresher, row, owner=self.owner)
        except LeaseLost:
            logger.warning(
                "schema refresh outlived its lease; its result was dropped",
                extra={"data_source_id": str(row.id), "lease_s": self.refresher.lease_s},
            )
        except Exception as error:
            # One source's failure (its lease released: due again) must not stop the others.
            logger.error(
                "schema refresh failed",
                extra={"data_source_id": str(row.id), "error": repr(error)},
            )

    def start(self) -> None:
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()


class ScheduledSchemaRefresh:
    """The periodic refresh as a kit component: started with the service (when
    ``schema_refresh_enabled``) on the runtime's pool and the engine's connection pools."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self._settings = settings
        self._engine = engine
        self.refresher: SchemaRefresher | None = None

    async def start(self, runtime: Runtime) -> None:
        if self._settings.schema_refresh_enabled:
            self.refresher = SchemaRefresher.from_settings(
                self._settings, runtime.require_pool(), self._engine
            )
            self.refresher.start()

    async def stop(self) -> None:
        if self.refresher is not None:
            await self.refresher.stop()
