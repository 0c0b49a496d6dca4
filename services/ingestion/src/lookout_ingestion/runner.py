"""The consumer's process: ``run_consumer`` keeps one consumer running (a fresh one after a failure),
``main`` is ``python -m lookout_ingestion.consumer`` (one consumer, no HTTP)."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from typing import TYPE_CHECKING

from lookout_kit.log import configure_logging
from lookout_kit.retry import Backoff

from lookout_ingestion.consumer import IngestionConsumer
from lookout_ingestion.settings import Settings

if TYPE_CHECKING:  # the standalone consumer must start fast: no web framework imported
    from lookout_kit.app import Runtime

logger = logging.getLogger("lookout.ingestion.consumer")


async def run_consumer(settings: Settings, stopping: asyncio.Event) -> None:
    """Run a consumer until ``stopping``; after a failure (broker or ClickHouse unreachable at
    start, a dead letter that could not be sent), start a fresh one after a pause: nothing is
    committed past what is stored, so a restart from the committed offsets loses nothing.

    Tunes the process's garbage collector first (``tune_gc``): in the service, as deployed, and in
    the standalone consumer alike."""
    tune_gc()
    backoff = Backoff(settings.retry_initial_s, settings.retry_max_s)
    attempt = 0
    while not stopping.is_set():
        consumer = IngestionConsumer(settings, stopping)
        try:
            await consumer.start()
            attempt = 0
            await consumer.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("ingestion consumer failed; restarting")
        finally:
            await consumer.close()
        if not stopping.is_set():
            try:
                await asyncio.wait_for(stopping.wait(), backoff.delay(attempt) + 0.5)
            except TimeoutError:
                pass
            attempt += 1


class BackgroundConsumer:
    """The consumer inside the service process: started with the app, stopped (flushed and
    committed) when uvicorn shuts down on SIGTERM."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, runtime: Runtime) -> None:
        if self._settings.consumer_enabled and self._settings.clickhouse_url:
            self._task = asyncio.create_task(run_consumer(self._settings, self._stopping))

    async def stop(self, runtime: Runtime) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the hot path.

    Every event allocates a few short-lived container objects (its pydantic models, rows), so
    the default generation-0 threshold (700) starts a collection every few dozen events, and the
    older generations keep re-scanning the long-lived heap (modules, the contracts' validators).
    Freezing that heap and collecting less often removes most of that work; nothing here relies on
    cycles being freed promptly."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)


def main() -> None:
    """``python -m lookout_ingestion.consumer``: one consumer, no HTTP; SIGTERM flushes and stops."""
    settings = Settings()
    configure_logging(f"{settings.service_name}-consumer", settings.log_level)

    async def serve() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        await run_consumer(settings, stopping)

    asyncio.run(serve())
