"""Reactions to identity's events, in the consumer group ``identity_consumer_group`` (default
``analytics``, so replicas share the work): ``tenant.deleted`` removes the tenant's rows.

Not the kit's ``reactions_router``: that one records each event in a PostgreSQL inbox, and
analytics has no PostgreSQL. None is needed: the reaction is a ClickHouse mutation, which may run
twice. An outage of ClickHouse is retried with backoff for as long as it lasts (the partition
waits); an error ClickHouse answers is retried ``ATTEMPTS`` times, then logged as an error with
the tenant's id and the event acknowledged, so that later events are applied. An unreadable event
is logged and acknowledged."""

from __future__ import annotations

import logging
from uuid import UUID

import aiohttp
from faststream import AckPolicy
from faststream.kafka import KafkaMessage, KafkaRouter
from lookout_contracts import parse_event
from lookout_contracts.errors import ContractError
from lookout_kit.clickhouse import ClickHouse
from lookout_kit.dependencies import RuntimeContext
from lookout_kit.retry import Backoff, retry

from lookout_analytics.service import tenants
from lookout_analytics.settings import Settings

logger = logging.getLogger("lookout.analytics.subscribers")
ATTEMPTS = 5
OUTAGES = (aiohttp.ClientError, OSError, TimeoutError)


class _GiveUp(Exception):
    """ClickHouse refused the mutation ``ATTEMPTS`` times."""


def mutations_client(settings: Settings, session: aiohttp.ClientSession) -> ClickHouse:
    """ClickHouse as the user that may run mutations (reads use the read-only user)."""
    assert settings.clickhouse_url is not None
    return ClickHouse(
        session,
        url=settings.clickhouse_url,
        database=settings.clickhouse_database,
        user=settings.clickhouse_mutations_user,
        password=settings.clickhouse_mutations_password,
    )


def identity_events(settings: Settings) -> KafkaRouter:
    """The subscriber of identity's events, on the topic and group ``settings`` name."""
    router = KafkaRouter()

    @router.subscriber(
        settings.identity_events_topic,
        group_id=settings.identity_consumer_group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="analytics-identity",
    )
    async def on_event(message: KafkaMessage, runtime: RuntimeContext) -> None:
        try:
            event = parse_event(message.body, ignore_unknown_fields=True)
        except ContractError as error:
            logger.warning("unreadable identity event skipped", extra={"code": error.code})
            return
        if event.type != "tenant.deleted":
            return
        assert isinstance(runtime.settings, Settings) and runtime.http_session is not None
        clickhouse = mutations_client(runtime.settings, runtime.http_session)
        tenant_id = UUID(event.subject.id)
        refusals = 0

        async def count(error: BaseException) -> None:
            nonlocal refusals
            if not isinstance(error, OUTAGES):
                refusals += 1
                if refusals >= ATTEMPTS:
                    raise _GiveUp from error

        try:
            await retry(
                lambda: tenants.on_tenant_deleted(clickhouse, tenant_id),
                what="tenant rows deletion",
                backoff=Backoff(0.2, 10.0),
                stopping=runtime.stopping,
                on_failure=count,
                log=logger,
                log_extra={"tenant_id": str(tenant_id), "event_id": str(event.id)},
            )
        except _GiveUp as given_up:
            logger.error(
                "a deleted tenant's analytics rows could not be deleted",
                extra={"tenant_id": str(tenant_id), "error": repr(given_up.__cause__)},
            )

    return router


def routers(settings: Settings) -> list[KafkaRouter]:
    """The service's subscribers, on the topics and groups ``settings`` name (for ``app.py``)."""
    return [identity_events(settings)]
