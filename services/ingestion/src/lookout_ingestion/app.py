"""The ingestion service's app: the kit's app factory, with the consumer as a background task."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from lookout_kit.app import Runtime, create_service_app

from lookout_ingestion.consumer import run_consumer
from lookout_ingestion.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    stopping = asyncio.Event()

    async def start_consumer(runtime: Runtime) -> None:
        if settings.consumer_enabled and settings.clickhouse_url:
            runtime.extras["consumer"] = asyncio.create_task(run_consumer(settings, stopping))

    async def stop_consumer(runtime: Runtime) -> None:
        # SIGTERM reaches here through uvicorn's shutdown: the consumer flushes and commits.
        stopping.set()
        task: asyncio.Task[None] | None = runtime.extras.get("consumer")
        if task is not None:
            await task

    return create_service_app(
        settings,
        service_package="lookout_ingestion",
        title="Lookout ingestion",
        description="The ingestion service: domain events into ClickHouse, in batches, effectively once.",
        on_startup=[start_consumer],
        on_shutdown=[stop_consumer],
    )
