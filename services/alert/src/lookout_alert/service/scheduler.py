"""The scheduler: a kit ``Worker`` per replica whose round leases due alerts with the kit's
``claim_due`` (``FOR UPDATE SKIP LOCKED``: concurrent replicas never get the same alert), evaluates
them concurrently and completes each lease with the alert's next run. So each due evaluation runs
once whatever the number of replicas; a replica that dies holds its alerts until their lease
(``scheduler_lease_s``) expires, then another evaluates them.

An evaluation that fails unexpectedly (a bug, the database gone mid-way) is logged and its alert
is scheduled as usual, so that one bad alert cannot make a replica spin."""

from __future__ import annotations

import asyncio
import logging

from lookout_kit.app import Runtime
from lookout_kit.lease import claim_due, complete, new_owner
from lookout_kit.worker import AT_ONCE, IDLE, NextRound, Worker

from lookout_alert.repository import alerts
from lookout_alert.repository.alerts import AlertRow
from lookout_alert.schemas.history import Evaluation
from lookout_alert.service.engine import Engine
from lookout_alert.service.evaluation import evaluate
from lookout_alert.service.schedules import next_run

logger = logging.getLogger("lookout.alert.scheduler")


async def evaluate_and_reschedule(engine: Engine, row: AlertRow, owner: str) -> Evaluation | None:
    """Evaluate a leased alert, then end the lease with its next run (none when it was
    deactivated meanwhile)."""
    try:
        return await evaluate(engine, row, owner=owner)
    except Exception:
        logger.exception("an alert's evaluation failed", extra={"alert_id": str(row.id)})
        return None
    finally:
        async with engine.pool.acquire() as conn, conn.transaction():
            await complete(
                conn, alerts.TABLE, [row.id], owner=owner, next_run=next_run(row.schedule)
            )
            await alerts.unschedule_inactive(conn, row.tenant_id, row.id)


class Scheduler:
    """A kit component: starts the worker when ``scheduler_enabled``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        settings = engine.settings
        self.owner = new_owner("alert-scheduler")
        self.worker = Worker(
            "alert-scheduler",
            self.run_round,
            interval_s=settings.scheduler_poll_s,
            jitter=0.1,
            stop_timeout_s=10.0,
        )

    async def run_round(self) -> NextRound:
        settings = self.engine.settings
        rows = await claim_due(
            self.engine.pool,
            alerts.TABLE,
            limit=settings.scheduler_batch,
            lease_s=settings.scheduler_lease_s,
            owner=self.owner,
        )
        await asyncio.gather(
            *(evaluate_and_reschedule(self.engine, AlertRow.of(row), self.owner) for row in rows)
        )
        return AT_ONCE if len(rows) == settings.scheduler_batch else IDLE

    async def start(self, runtime: Runtime) -> None:
        if self.engine.settings.scheduler_enabled:
            self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
