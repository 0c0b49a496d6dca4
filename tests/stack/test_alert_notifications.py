"""Alerts end to end through the gateway of the running stack (real identity, datasource and alert
services): rows in a real PostgreSQL data source cross an alert's threshold → the alert's own
scheduler triggers it within its interval → a local HTTP receiver gets a payload whose HMAC
signature verifies; the rows go back → exactly one resolved notification. The saved query is
parameterized: the values stored on the alert select the rows."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from lookout_testing.accounts import bearer, signup
from lookout_testing.servers import Servers
from lookout_testing.waiting import wait_until

from tests.alert.support import (
    SECRET,
    WebhookReceiver,
    metrics_query_through_gateway,
    set_metric,
    webhook_alert_body,
)


async def test_an_alert_triggers_and_resolves_through_the_stack_with_signed_webhooks(
    servers: Servers, database: str
) -> None:
    async with (
        httpx.AsyncClient(base_url=servers.gateway, timeout=30) as http,
        WebhookReceiver() as receiver,
    ):
        user = await signup(http)
        headers = bearer(user)
        query_id = await metrics_query_through_gateway(http, headers, database)
        created = await http.post(
            "/api/alert/alerts",
            headers=headers,
            json=webhook_alert_body("too many errors", query_id, receiver.url),
        )
        assert created.status_code == 201, created.text
        alert_id = created.json()["id"]
        assert SECRET not in created.text

        try:

            async def evaluated() -> bool:
                alert = (await http.get(f"/api/alert/alerts/{alert_id}", headers=headers)).json()
                return alert["last_evaluated_at"] is not None

            await wait_until(evaluated, timeout=15, message="the scheduler's first evaluation")
            await set_metric(database, "errors", 42)

            def received(count: int) -> Callable[[], Awaitable[bool]]:
                async def check() -> bool:
                    return len(receiver.received) >= count

                return check

            await wait_until(received(1), timeout=15, message="the trigger's webhook")
            await set_metric(database, "errors", 1)
            await wait_until(received(2), timeout=15, message="the resolve's webhook")
            await asyncio.sleep(2.5)  # a few more evaluations: nothing more to say

            history = await http.get(f"/api/alert/alerts/{alert_id}/history", headers=headers)
        finally:  # a stack's alert left behind would run every second for ever
            await http.delete(f"/api/alert/alerts/{alert_id}", headers=headers)

    assert [r["event"] for r in receiver.received] == ["triggered", "resolved"]
    assert receiver.verified == [True, True]
    assert receiver.received[0]["observed_value"] == 42
    assert receiver.received[0]["alert"]["id"] == alert_id
    assert receiver.received[0]["tenant_id"] == user["tenant"]["id"]
    items = history.json()["items"]
    assert [(h["kind"], h["notification_sent"]) for h in items] == [
        ("resolved", True),
        ("triggered", True),
    ]
