"""The datasource service stopped under a running alert (issue 16's acceptance), through the gateway
of the running stack: the stack's own alert scheduler evaluates the alert every second; with every
datasource replica stopped (supervisord) the alert goes to ``error`` with one history row however
many evaluations fail, and nothing is sent; started again, the alert recovers by itself (still met:
no new trigger), and when its rows go back it resolves with one notification."""

from __future__ import annotations

from typing import Any

import httpx
from lookout_testing.accounts import bearer, signup
from lookout_testing.servers import Servers
from lookout_testing.waiting import wait_until

from tests.alert.support import (
    WebhookReceiver,
    metrics_query_through_gateway,
    set_metric,
    webhook_alert_body,
)
from tests.stack.supervision import stopped

FAILED_EVALUATIONS = 4
"""Evaluations seen failing while the datasource is down (a storm would be one row or send each)."""


async def test_an_alert_errors_once_while_the_datasource_is_down_and_recovers_by_itself(
    servers: Servers, database: str
) -> None:
    async with (
        httpx.AsyncClient(base_url=servers.gateway, timeout=30) as http,
        WebhookReceiver() as receiver,
    ):
        headers = bearer(await signup(http))
        query_id = await metrics_query_through_gateway(http, headers, database)
        await set_metric(database, "errors", 50)
        created = await http.post(
            "/api/alert/alerts",
            headers=headers,
            json=webhook_alert_body("errors while the datasource is down", query_id, receiver.url),
        )
        assert created.status_code == 201, created.text
        alert_id = created.json()["id"]

        async def alert() -> dict[str, Any]:
            response = await http.get(f"/api/alert/alerts/{alert_id}", headers=headers)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        def in_state(state: str) -> Any:
            async def check() -> bool:
                return (await alert())["state"] == state

            return check

        try:
            await wait_until(in_state("triggered"), timeout=20, message="the trigger")
            async with stopped("datasource", servers.gateway):
                await wait_until(in_state("error"), timeout=20, message="the error")
                error = await alert()
                seen = {error["last_evaluated_at"]}

                async def failed_more() -> bool:
                    now = await alert()
                    assert now["state"] == "error", now
                    seen.add(now["last_evaluated_at"])
                    return len(seen) >= FAILED_EVALUATIONS

                await wait_until(failed_more, timeout=30, message="more failed evaluations")
                during = [r["event"] for r in receiver.received]
            # Back: the next evaluations succeed without anyone's help.
            await wait_until(in_state("triggered"), timeout=30, message="the recovery")
            await set_metric(database, "errors", 0)
            await wait_until(in_state("ok"), timeout=20, message="the resolve")

            async def resolve_delivered() -> Any:
                # The state is written first, the delivery's outcome after it.
                response = await http.get(f"/api/alert/alerts/{alert_id}/history", headers=headers)
                assert response.status_code == 200, response.text
                items = response.json()["items"]
                return items if items[0]["deliveries"] else None

            items = await wait_until(
                resolve_delivered, timeout=20, message="the resolve's delivery"
            )
        finally:  # a stack's alert left behind would run every second for ever
            await http.delete(f"/api/alert/alerts/{alert_id}", headers=headers)

    assert error["last_error"], error
    assert during == ["triggered"]  # nothing sent for the error, however many evaluations failed
    assert [(h["kind"], h["notification_sent"]) for h in items] == [
        ("resolved", True),
        ("error", False),
        ("triggered", True),
    ]
    assert items[1]["error_message"]
    assert [r["event"] for r in receiver.received] == ["triggered", "resolved"]
    assert all(receiver.verified)
