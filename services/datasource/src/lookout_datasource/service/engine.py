"""What executions run on, one per process: the connection pools per source (with their
concurrency limit), the result cache, the secret box; built from the settings by ``app.py``,
closed with the service, handed to handlers by ``EngineDep``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from lookout_kit.secret_box import SecretBox
from lookout_kit.worker import IDLE, NextRound, Worker

from lookout_datasource.service.connectors.pools import ConnectorPools
from lookout_datasource.service.result_cache import ResultCache
from lookout_datasource.settings import Settings


@dataclass
class Engine:
    settings: Settings
    pools: ConnectorPools
    box: SecretBox
    cache: ResultCache | None = None
    _idle_closer: Worker | None = None

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

    def start(self) -> None:
        """Close idle pools even when no execution comes to do it."""

        async def close_idle() -> NextRound:
            await self.pools.close_idle()
            return IDLE

        interval = max(1.0, min(60.0, self.settings.pool_idle_close_s / 2))
        self._idle_closer = Worker("datasource-idle-pools", close_idle, interval_s=interval)
        self._idle_closer.start()

    async def close(self) -> None:
        if self._idle_closer is not None:
            await self._idle_closer.stop()
        await self.pools.close()
        if self.cache is not None:
            await self.cache.close()


async def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(engine_of)]
