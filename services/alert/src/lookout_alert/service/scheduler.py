"""The scheduler: a kit ``Worker`` per replica whose round leases due alerts with the kit's
``claim_due`` (``FOR UPDATE SKIP LOCKED``: concurrent replicas never get the same alert), runs each
tenant's queries in the datasource's batches (the same query with the same values once), evaluates
the alerts concurrently and completes the leases with their next runs (one statement per schedule). So each due evaluation runs
once whatever the number of replicas; a replica that dies holds its alerts until their lease
(``scheduler_lease_s``) expires, then another evaluates them.

An evaluation that fails unexpectedly (a bug, the database gone mid-way) is logged and its alert
is scheduled as usual, so that one bad alert cannot make a replica spin."""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

from lookout_kit.app import Runtime
from lookout_kit.lease import NextRun, claim_due, complete, new_owner
from lookout_kit.worker import AT_ONCE, IDLE, NextRound, Worker

from lookout_alert.repository import alerts
from lookout_alert.repository.alerts import AlertRow
from lookout_alert.schemas.history import Evaluation
from lookout_alert.service.engine import Engine
from lookout_alert.service.evaluation import evaluate
from lookout_alert.service.query_runner import QueryOutcome, run_saved_queries
from lookout_alert.service.schedules import next_run_of

logger = logging.getLogger("lookout.alert.scheduler")


async def evaluate_safely(
    engine: Engine, row: AlertRow, owner: str, ran: QueryOutcome | None = None
) -> Evaluation | None:
    """Evaluate a leased alert (on ``ran``, its query's outcome, when already run); an unexpected
    failure is logged, not raised (the alert is rescheduled all the same)."""
    try:
        return await evaluate(engine, row, owner=owner, ran=ran)
    except Exception:
        logger.exception("an alert's evaluation failed", extra={"alert_id": str(row.id)})
        return None


async def reschedule(engine: Engine, rows: list[AlertRow], owner: str) -> None:
    """End ``owner``'s leases of ``rows`` with each one's next run, alerts of one schedule in one
    statement (an interval counts from the database's now); none for those deactivated
    meanwhile."""
    due: dict[NextRun, list[UUID]] = {}
    for row in rows:
        due.setdefault(next_run_of(row.schedule), []).append(row.id)
    async with engine.pool.acquire() as conn, conn.transaction():
        for when, ids in due.items():
            await complete(conn, alerts.TABLE, ids, owner=owner, next_run=when)
        await alerts.unschedule_inactive(conn, [row.id for row in rows])


async def evaluate_and_reschedule(
    engine: Engine, row: AlertRow, owner: str, ran: QueryOutcome | None = None
) -> Evaluation | None:
    """One alert evaluated, then rescheduled (evaluate now: an unexpected failure is raised)."""
    try:
        return await evaluate(engine, row, owner=owner, ran=ran)
    finally:
        await reschedule(engine, [row], owner)


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
        by_tenant: dict[UUID, list[AlertRow]] = {}
        for record in rows:
            row = AlertRow.of(record)
            by_tenant.setdefault(row.tenant_id, []).append(row)
        await asyncio.gather(*(self._evaluate(tenant_rows) for tenant_rows in by_tenant.values()))
        return AT_ONCE if len(rows) == settings.scheduler_batch else IDLE

    async def _evaluate(self, rows: list[AlertRow]) -> None:
        """One tenant's due alerts: their queries in the tenant's batches, then each evaluated."""
        try:
            outcomes: list[QueryOutcome | None] = list(
                await run_saved_queries(
                    self.engine.datasource,
                    rows[0].tenant_id,
                    [
                        None if alert.query_id is None else (alert.query_id, alert.parameter_values)
                        for alert in rows
                    ],
                    self.engine.settings.query_row_limit,
                )
            )
        except Exception:
            logger.exception("a tenant's queries could not be run")
            outcomes = [None] * len(rows)  # each alert runs its own
        try:
            await asyncio.gather(
                *(
                    evaluate_safely(self.engine, row, self.owner, ran)
                    for row, ran in zip(rows, outcomes, strict=True)
                )
            )
        finally:
            await reschedule(self.engine, rows, self.owner)

    async def start(self, runtime: Runtime) -> None:
        if self.engine.settings.scheduler_enabled:
            self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
