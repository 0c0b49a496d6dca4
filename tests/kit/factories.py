"""Factories for outbox tests: events of a test-only type, a relay wired to a given broker."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
from lookout_contracts.envelope import Envelope, Subject
from lookout_kit.relay import OutboxRelay
from pydantic import BaseModel, ConfigDict


class Step(BaseModel):
    """Test payload: which step of an aggregate's life this event is."""

    model_config = ConfigDict(frozen=True)
    sequence: int


def step_event(
    aggregate_id: str, sequence: int, tenant_id: uuid.UUID | None = None
) -> Envelope[Step]:
    return Envelope[Step](
        type="widget.stepped",
        source="kittest",
        tenant_id=tenant_id or uuid.uuid4(),
        subject=Subject(type="widget", id=aggregate_id),
        data=Step(sequence=sequence),
    )


def make_relay(
    dsn: str,
    pool: asyncpg.Pool,
    bootstrap_servers: str,
    *,
    batch_size: int = 500,
    retention: timedelta = timedelta(hours=1),
    request_timeout_ms: int = 2_000,
) -> OutboxRelay:
    return OutboxRelay(
        dsn=dsn,
        pool=pool,
        bootstrap_servers=bootstrap_servers,
        batch_size=batch_size,
        poll_interval_s=0.5,
        request_timeout_ms=request_timeout_ms,
        retention=retention,
        prune_interval_s=3600,
    )
