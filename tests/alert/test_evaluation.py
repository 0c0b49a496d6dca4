"""Evaluating alerts against a real PostgreSQL data source through the datasource service: the
state machine ok → triggered → ok (resolved), error when the query fails and recovery after, the
history, the events, notifications on trigger and resolve only (a webhook whose signature the
receiver verifies, a mail through a real SMTP server), retries with backoff, cooldown and mute."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from .conftest import AlertService
from .support import (
    ADMIN,
    EDITOR,
    SECRET,
    Actor,
    SmtpReceiver,
    WebhookReceiver,
    an_alert,
    events_of,
    metrics_query,
    set_metric,
)


async def alert_on_metric(
    service: AlertService,
    tenant: uuid.UUID,
    database: str,
    channels: list[dict[str, Any]],
    **extra: Any,
) -> tuple[Any, str]:
    """An admin of ``tenant`` and an alert (errors > 10) on ``metrics`` in ``database``."""
    admin = service.client(Actor(tenant, ADMIN))
    query_id = await metrics_query(service.datasource_client(admin.actor), database)
    alert = await admin.create_alert(
        query_id=query_id,
        parameter_values={"name": "errors"},
        notification_config={"channels": channels},
        **extra,
    )
    return admin, alert["id"]


def webhook(receiver: WebhookReceiver) -> dict[str, Any]:
    return {"kind": "webhook", "url": receiver.url, "secret": SECRET}


async def test_rows_crossing_the_threshold_trigger_then_resolve_once_each(
    alert_service: AlertService, tenant: uuid.UUID, database: str, smtp: SmtpReceiver
) -> None:
    async with WebhookReceiver() as receiver:
        name = f"errors {uuid.uuid4().hex[:8]}"
        admin, alert_id = await alert_on_metric(
            alert_service,
            tenant,
            database,
            [webhook(receiver), {"kind": "email", "to": ["ops@example.com"]}],
        )
        await admin.request("PATCH", f"/alerts/{alert_id}", json={"name": name})
        # The stored parameter value selects the rows: "warnings" is high, "errors" is not.
        await set_metric(database, "warnings", 99)
        first = await admin.evaluate(alert_id)
        assert (first["state"], first["observed_value"], first["history_id"]) == ("ok", 0, None)

        await set_metric(database, "errors", 50)
        triggered = await admin.evaluate(alert_id)
        assert triggered["state"] == "triggered" and triggered["observed_value"] == 50
        assert triggered["notified"] is True and triggered["execution_id"] is not None
        again = await admin.evaluate(alert_id)  # still met: no new trigger, no notification
        assert again["state"] == "triggered" and again["history_id"] is None

        await set_metric(database, "errors", 3)
        resolved = await admin.evaluate(alert_id)
        assert resolved["state"] == "ok" and resolved["notified"] is True

    assert receiver.verified == [True, True]
    assert [r["event"] for r in receiver.received] == ["triggered", "resolved"]
    assert receiver.received[0]["alert"] == {"id": alert_id, "name": name}
    assert receiver.received[0]["observed_value"] == 50
    assert receiver.received[0]["history_id"] == triggered["history_id"]
    mails = [m for m in smtp.messages if name in str(m["Subject"])]
    assert [m["To"] for m in mails] == ["ops@example.com"] * 2
    assert "triggered" in str(mails[0]["Subject"]) and "resolved" in str(mails[1]["Subject"])

    history = await admin.history(alert_id)
    assert [h["kind"] for h in history["items"]] == ["resolved", "triggered"]
    assert [h["condition_met"] for h in history["items"]] == [False, True]
    assert all(h["notification_sent"] for h in history["items"])
    assert [d["delivered"] for d in history["items"][1]["deliveries"]] == [True, True]
    alert = (await admin.request("GET", f"/alerts/{alert_id}")).json()
    assert alert["last_triggered_at"] is not None and alert["last_value"] == 3

    events = await events_of(alert_service.database, alert_id)
    kinds = [e["type"] for e in events if e["type"] not in ("alert.created", "alert.updated")]
    assert kinds == ["alert.triggered", "alert.notification_sent", "alert.notification_sent",
                     "alert.resolved", "alert.notification_sent", "alert.notification_sent"]  # fmt: skip
    assert events[2]["data"]["query_id"] == triggered["execution_id"]
    assert not any(SECRET in str(e) or receiver.url in str(e) for e in events)


async def test_a_failing_query_is_an_error_recorded_once_and_recovers(
    alert_service: AlertService, tenant: uuid.UUID, database: str
) -> None:
    async with WebhookReceiver() as receiver:
        admin, alert_id = await alert_on_metric(
            alert_service, tenant, database, [webhook(receiver)]
        )
        await set_metric(database, "errors", 50)
        assert (await admin.evaluate(alert_id))["state"] == "triggered"
        alert_service.transport.down = True
        try:
            errors = [await admin.evaluate(alert_id) for _ in range(3)]
        finally:
            alert_service.transport.down = False
        assert [e["state"] for e in errors] == ["error"] * 3
        assert "unavailable" in (errors[0]["error_message"] or "")
        # Back, and still met: no new trigger (the outcome was kept through the errors).
        back = await admin.evaluate(alert_id)
        assert back["state"] == "triggered" and back["history_id"] is None
        await set_metric(database, "errors", 0)
        assert (await admin.evaluate(alert_id))["state"] == "ok"

    history = (await admin.history(alert_id))["items"]
    assert [h["kind"] for h in history] == ["resolved", "error", "triggered"]
    assert history[1]["error_message"] and not history[1]["notification_sent"]
    events = await events_of(alert_service.database, alert_id)
    [errored] = [e["data"] for e in events if e["type"] == "alert.errored"]  # once, not thrice
    assert errored["history_id"] == history[1]["id"] and "unavailable" in errored["error"]
    assert [r["event"] for r in receiver.received] == ["triggered", "resolved"]

    # A saved query that is not there any more is an error too.
    query_id = await alert_service.new_query(tenant)
    orphan = await admin.create_alert(query_id=query_id, parameter_values={"name": "errors"})
    datasource = alert_service.datasource_client(admin.actor)
    assert (await datasource.request("DELETE", f"/saved-queries/{query_id}")).status_code == 204
    outcome = await admin.evaluate(orphan["id"])
    assert outcome["state"] == "error" and "not_found" in outcome["error_message"]


async def test_an_alert_is_made_only_on_a_saved_query_its_creator_may_view(
    alert_service: AlertService, tenant: uuid.UUID
) -> None:
    """Asked of the datasource service as the creator, with the values: 422 naming the field."""
    query_id = await alert_service.new_query(tenant)
    no_queries = alert_service.client(
        Actor(tenant, [p for p in EDITOR if p["resource"] == "alert"])
    )
    response = await no_queries.request("POST", "/alerts", json=an_alert(query_id=query_id))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["loc"] == ["body", "query_id"]
    stranger = alert_service.client(Actor(uuid.uuid4(), ADMIN))
    response = await stranger.request("POST", "/alerts", json=an_alert(query_id=query_id))
    assert response.json()["error"]["code"] == "unknown_saved_query"

    editor = alert_service.client(Actor(tenant, EDITOR))
    response = await editor.request(
        "POST", "/alerts", json=an_alert(query_id=query_id, parameter_values={"nme": "x"})
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["loc"] == ["body", "parameter_values"]
    # Values the datasource service's batch refuses as a whole (not a parameter name): 422 too,
    # not a 503 (the API fuzz found it).
    response = await editor.request(
        "POST", "/alerts", json=an_alert(query_id=query_id, parameter_values={"not a name!": 1})
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_parameter_values"
    alert = await editor.create_alert(query_id=query_id, parameter_values={"name": "errors"})
    response = await editor.request(
        "PATCH", f"/alerts/{alert['id']}", json={"parameter_values": {}}
    )
    assert response.json()["error"]["code"] == "invalid_parameter_values"


async def test_deliveries_retry_with_backoff_and_each_outcome_is_recorded(
    alert_service: AlertService, tenant: uuid.UUID, database: str
) -> None:
    async with WebhookReceiver() as flaky, WebhookReceiver() as refusing:
        flaky.statuses = [503, 502]
        refusing.statuses = [400]
        admin, alert_id = await alert_on_metric(
            alert_service, tenant, database, [webhook(flaky), webhook(refusing)]
        )
        await set_metric(database, "errors", 50)
        assert (await admin.evaluate(alert_id))["notified"] is True
    assert len(flaky.received) == 3 and len(refusing.received) == 1  # a 400 is not retried
    [entry] = (await admin.history(alert_id))["items"]
    assert [(d["attempts"], d["delivered"]) for d in entry["deliveries"]] == [(3, True), (1, False)]
    assert "400" in entry["deliveries"][1]["error_message"]
    events = await events_of(alert_service.database, alert_id)
    failed = [e["data"] for e in events if e["type"] == "alert.notification_failed"]
    assert sorted((f["attempt"], f["will_retry"]) for f in failed) == [
        (1, False),
        (1, True),
        (2, True),
    ]
    [sent] = [e["data"] for e in events if e["type"] == "alert.notification_sent"]
    assert sent["attempt"] == 3


async def test_cooldown_and_mute_silence_notifications_not_evaluations(
    alert_service: AlertService, tenant: uuid.UUID, database: str
) -> None:
    async with WebhookReceiver() as receiver:
        admin, alert_id = await alert_on_metric(
            alert_service, tenant, database, [webhook(receiver)], cooldown_s=3600
        )
        for value in (50, 0, 60, 0):  # trigger, resolve, trigger within the cooldown, resolve
            await set_metric(database, "errors", value)
            await admin.evaluate(alert_id)
        assert [r["event"] for r in receiver.received] == ["triggered", "resolved"]
        history = (await admin.history(alert_id))["items"]
        assert [(h["kind"], h["notification_sent"]) for h in history] == [
            ("resolved", False), ("triggered", False), ("resolved", True), ("triggered", True),
        ]  # fmt: skip

        muted_until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        response = await admin.request(
            "PATCH", f"/alerts/{alert_id}", json={"cooldown_s": 0, "mute_until": muted_until}
        )
        assert response.status_code == 200, response.text
        await set_metric(database, "errors", 70)
        muted = await admin.evaluate(alert_id)
        assert muted["state"] == "triggered" and muted["notified"] is False
        assert len(receiver.received) == 2


async def test_a_test_notification_reaches_each_channel_once(
    alert_service: AlertService, tenant: uuid.UUID, database: str, smtp: SmtpReceiver
) -> None:
    async with WebhookReceiver() as receiver, WebhookReceiver() as down, WebhookReceiver() as slack:
        await down.__aexit__()
        admin, alert_id = await alert_on_metric(
            alert_service,
            tenant,
            database,
            [
                webhook(receiver),
                webhook(down),
                {"kind": "email", "to": ["test@example.com"]},
                {"kind": "slack", "url": slack.url},
            ],
        )
        response = await admin.request("POST", f"/alerts/{alert_id}/test-notification")
    assert response.status_code == 200, response.text
    outcomes = response.json()["channels"]
    assert [(o["channel"], o["delivered"], o["attempts"]) for o in outcomes] == [
        ("webhook", True, 1), ("webhook", False, 1), ("email", True, 1), ("slack", True, 1),
    ]  # fmt: skip
    assert receiver.verified == [True] and receiver.received[0]["event"] == "test"
    [posted] = slack.received
    assert list(posted) == ["text"] and "test notification" in posted["text"]
    assert any("test@example.com" == m["To"] for m in smtp.messages)
    assert not any(secret in response.text for secret in (SECRET, down.url, slack.url))
    assert (await admin.history(alert_id))["items"] == []
