"""The app factory every service uses: lifespan (pool, migrations, broker, relay), authentication,
health, metrics, errors, request ids, tracing and logs. A service adds its routers and subscribers,
nothing else."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any, Protocol

import aiohttp
import asyncpg
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from faststream.kafka import KafkaBroker, KafkaRouter
from lookout_contracts.topics import events_topic

from lookout_kit.auth.dependencies import Authenticator
from lookout_kit.clickhouse import ClickHouse, client_session
from lookout_kit.database import create_pool
from lookout_kit.errors import error_body, install_error_handlers
from lookout_kit.kafka import asyncapi_document, create_broker, start_with_retry, subscribed_topics
from lookout_kit.log import configure_logging
from lookout_kit.metrics import metrics_endpoint
from lookout_kit.middleware import RequestContextMiddleware
from lookout_kit.migrate import apply_migrations
from lookout_kit.openapi import install_error_documentation
from lookout_kit.relay import OutboxRelay, make_producer
from lookout_kit.settings import AuthSettings, ServiceSettings, networks_of
from lookout_kit.telemetry import configure_tracing

logger = logging.getLogger("lookout.app")

ReadinessCheck = Callable[["Runtime"], Awaitable[None]]
Hook = Callable[["Runtime"], Awaitable[None]]


class Component(Protocol):
    """A part a service owns for its process's life (an engine, a client of another service, a
    background worker): started once the runtime is up, stopped before it goes down (in reverse
    order). Handlers reach one by its class: ``Annotated[Engine, Depends(component(Engine))]``
    (``lookout_kit.dependencies.component``)."""

    async def start(self, runtime: Runtime) -> None: ...

    async def stop(self) -> None: ...


NO_FASTAPI_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}
"""FastAPI's own OpenTelemetry layer (a span per request, dependency and serialization) is off:
the kit's one middleware traces and measures every request (``middleware.py``)."""

RUNTIME_CONTEXT_KEY = "runtime"
"""The name of the runtime in the broker's context (FastStream ``Context``), set at startup."""


@dataclass
class Runtime:
    """What a running service holds. Handlers take it (or a part) through the typed dependencies of
    ``lookout_kit.dependencies``; subscribers through the broker's context (``RuntimeContext``)."""

    settings: ServiceSettings
    broker: KafkaBroker
    pool: asyncpg.Pool | None = None
    # For events that report no state change (publish_standalone): commits skip the WAL flush wait.
    events_pool: asyncpg.Pool | None = None
    relay: OutboxRelay | None = None
    clickhouse: ClickHouse | None = None
    http_session: aiohttp.ClientSession | None = None
    authenticator: Authenticator | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def stopping(self) -> asyncio.Event:
        """Set when the service shuts down: background loops and retries end on it."""
        return self._stopping

    def require_pool(self) -> asyncpg.Pool:
        """The service's pool; a service without a PostgreSQL database asking for it is a bug."""
        if self.pool is None:
            raise RuntimeError(
                "this service has no PostgreSQL pool (no database_url, or not started)"
            )
        return self.pool

    def require_events_pool(self) -> asyncpg.Pool:
        """The pool for events that report no state change (``publish_standalone``)."""
        if self.events_pool is None:
            raise RuntimeError("this service has no events pool (no database_url, or not started)")
        return self.events_pool


def _authenticator(settings: ServiceSettings, auth: bool | Authenticator) -> Authenticator | None:
    if auth is False:
        return None
    if not isinstance(settings, AuthSettings):
        raise TypeError(
            f"auth needs settings that mix in AuthSettings; {type(settings).__name__} does not"
        )
    return auth if isinstance(auth, Authenticator) else Authenticator.from_settings(settings)


async def _check_postgres(runtime: Runtime) -> None:
    if runtime.pool is not None:
        async with runtime.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1", timeout=2)


async def _check_kafka(runtime: Runtime) -> None:
    if not await runtime.broker.ping(timeout=2):
        raise ConnectionError("kafka broker not reachable")


class RevocationsBehind(RuntimeError):
    """The revocation cache has not read identity's events up to where they ended at start."""


async def _check_revocations(runtime: Runtime) -> None:
    # Until then a token of a session ended (or a user deactivated) before this process started
    # would pass: not ready, so that no traffic comes (fail closed).
    if runtime.authenticator is not None and not runtime.authenticator.replayed:
        raise RevocationsBehind("identity's events are still being read")


async def _check_clickhouse(runtime: Runtime) -> None:
    if runtime.clickhouse is not None and not await runtime.clickhouse.ping():
        raise ConnectionError("clickhouse not reachable")


def create_service_app(
    settings: ServiceSettings,
    *,
    service_package: str,
    title: str,
    version: str = "0.1.0",
    description: str = "",
    routers: Sequence[APIRouter] = (),
    subscribers: Sequence[KafkaRouter] = (),
    auth: bool | Authenticator = False,
    broker: KafkaBroker | None = None,
    readiness_checks: Sequence[ReadinessCheck] = (),
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    components: Sequence[Component] = (),
) -> FastAPI:
    """Build a service's FastAPI app around ``settings``.

    PostgreSQL (pool, migrations, outbox relay) is set up when ``settings.database_url`` is set;
    ClickHouse when ``settings.clickhouse_url`` is. Kafka always (events in or out): the
    ``subscribers`` routers are included in the service's broker, whose context holds the runtime.
    ``auth=True`` verifies identity's tokens as the settings (which mix in ``AuthSettings``) say,
    with revocations from identity's events; an ``Authenticator`` given instead is used as it is
    (tests: keys of their own).
    """
    configure_logging(settings.service_name, settings.log_level, access_log=settings.access_log)
    configure_tracing(
        settings.service_name, settings.otel_exporter_otlp_endpoint, settings.otel_sample_ratio
    )
    kafka = broker or create_broker(
        settings.kafka_bootstrap_servers, idempotent=settings.kafka_idempotent_producer
    )
    for subscriber_router in subscribers:
        kafka.include_router(subscriber_router)
    authenticator = _authenticator(settings, auth)
    if authenticator is not None:
        assert isinstance(settings, AuthSettings)  # checked by _authenticator
        authenticator.subscribe(kafka, topic=settings.identity_events_topic)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings=settings, broker=kafka, authenticator=authenticator)
        app.state.runtime = runtime
        # Before the broker starts, so that the first message finds it.
        kafka.context.set_global(RUNTIME_CONTEXT_KEY, runtime)
        dsn = settings.database_dsn
        if dsn is not None:
            await apply_migrations(dsn, service_package)
            runtime.pool = await create_pool(
                dsn,
                min_size=settings.database_pool_min,
                max_size=settings.database_pool_max,
                idle_s=settings.database_pool_idle_s,
            )
            runtime.events_pool = await create_pool(
                dsn,
                min_size=1,
                max_size=4,
                idle_s=settings.database_pool_idle_s,
                server_settings={"synchronous_commit": "off"},
            )
            if settings.outbox_relay_enabled:
                runtime.relay = OutboxRelay(
                    dsn=dsn,
                    pool=runtime.pool,
                    bootstrap_servers=settings.kafka_bootstrap_servers,
                    batch_size=settings.outbox_batch_size,
                    poll_interval_s=settings.outbox_poll_interval_s,
                    request_timeout_ms=settings.kafka_request_timeout_ms,
                    retention=timedelta(hours=settings.outbox_retention_hours),
                    prune_interval_s=settings.outbox_prune_interval_s,
                    linger_s=settings.outbox_linger_s,
                    inbox_retention=timedelta(hours=settings.inbox_retention_hours),
                    producer_factory=partial(
                        make_producer, idempotent=settings.kafka_idempotent_producer
                    ),
                )
        if settings.clickhouse_url:
            runtime.http_session = client_session()
            runtime.clickhouse = ClickHouse.from_settings(runtime.http_session, settings)
        for hook in on_startup:
            await hook(runtime)
        for part in components:
            await part.start(runtime)
        topics = subscribed_topics(kafka)
        if dsn is not None:
            topics.append(events_topic(settings.service_name))
        runtime._tasks.append(
            asyncio.create_task(
                start_with_retry(
                    kafka,
                    runtime._stopping,
                    bootstrap_servers=settings.kafka_bootstrap_servers,
                    topics=topics,
                    partitions=settings.kafka_topic_partitions,
                    replication_factor=settings.kafka_replication_factor,
                )
            )
        )
        # auth=... or a startup hook (Authenticator.on_startup) installed it.
        if runtime.authenticator is not None and not runtime.authenticator.replayed:
            runtime._tasks.append(
                asyncio.create_task(
                    runtime.authenticator.learn_replay_targets(
                        settings.kafka_bootstrap_servers, runtime._stopping
                    )
                )
            )
        if runtime.relay is not None:
            runtime.relay.start()
        # What startup built (modules, models, schemas) lives as long as the process: keep it out
        # of the collector's scans so that collections during requests stay short.
        gc.collect()
        gc.freeze()
        logger.info("service started", extra={"port": settings.port})
        try:
            yield
        finally:
            runtime._stopping.set()
            for part in reversed(components):
                await part.stop()
            for hook in reversed(on_shutdown):
                await hook(runtime)
            if runtime.relay is not None:
                await runtime.relay.stop()
            for task in runtime._tasks:
                task.cancel()
            await asyncio.gather(*runtime._tasks, return_exceptions=True)
            await kafka.stop()
            if runtime.http_session is not None:
                await runtime.http_session.close()
            if runtime.events_pool is not None:
                await runtime.events_pool.close()
            if runtime.pool is not None:
                await runtime.pool.close()
            kafka.context.reset_global(RUNTIME_CONTEXT_KEY)
            logger.info("service stopped")

    docs = settings.serves_docs
    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        telemetry=NO_FASTAPI_TELEMETRY,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    kinds = [type(part) for part in components]
    if len(set(kinds)) != len(kinds):
        raise ValueError("a service owns one component of each class")
    app.state.components = {type(part): part for part in components}
    install_error_handlers(app)
    install_error_documentation(app)
    app.add_middleware(
        RequestContextMiddleware,
        trusted_proxies=[
            ip.strip() for ip in settings.forwarded_allow_ips.split(",") if ip.strip()
        ],
    )

    checks: list[ReadinessCheck] = [
        _check_postgres,
        _check_kafka,
        _check_clickhouse,
        _check_revocations,
        *readiness_checks,
    ]

    @app.get("/livez", tags=["health"], summary="The process is up")
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="The service can reach its database and broker",
        responses={503: {"description": "a dependency is unreachable"}},
    )
    async def readyz(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        failures: dict[str, str] = {}
        for check in checks:
            try:
                await asyncio.wait_for(check(runtime), 3)
            except Exception as error:
                failures[check.__name__.removeprefix("_check_")] = type(error).__name__
        if failures:
            return JSONResponse(
                error_body("unavailable", "a dependency is unreachable", failures), status_code=503
            )
        return JSONResponse({"status": "ready"})

    app.add_api_route(
        "/metrics",
        metrics_endpoint(networks_of(settings.metrics_allow_ips)),
        methods=["GET"],
        tags=["health"],
        summary="Prometheus metrics",
        include_in_schema=True,
        response_class=Response,
    )

    if docs:

        @app.get(
            "/asyncapi.json", tags=["docs"], summary="AsyncAPI document of this service's topics"
        )
        async def asyncapi() -> Any:
            return asyncapi_document(kafka, title=title, version=version)

    for router in routers:
        app.include_router(router)
    return app
