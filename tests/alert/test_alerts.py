"""Alerts' CRUD in the caller's tenant: the stored condition, schedule, parameter values and
channels; 422 naming the field for an invalid condition, schedule or channel; another tenant's
alert is 404; no secret in any response or event; each change with its event."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from lookout_alert.schemas.conditions import IntervalSchedule
from lookout_alert.service.schedules import check_schedule
from lookout_kit.errors import Invalid

from .conftest import AlertService
from .support import ADMIN, EDITOR, SECRET, VIEWER, Actor, an_alert, events_of


async def test_an_alert_is_created_read_listed_changed_and_deleted(
    alert_service: AlertService, tenant: uuid.UUID
) -> None:
    owner = alert_service.client(Actor(tenant, EDITOR))
    body = an_alert(
        parameter_values={"name": "errors"},
        notification_config={
            "channels": [
                {"kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": SECRET},
                {"kind": "email", "to": ["ops@example.com"]},
                {"kind": "slack", "url": f"https://hooks.slack.test/services/{SECRET}"},
            ]
        },
        cooldown_s=300,
    )
    del body["query_id"]  # the tenant's own saved query
    created = await owner.create_alert(**body)
    assert created["parameter_values"] == {"name": "errors"}
    assert created["condition_config"]["threshold"] == {"op": ">", "value": 10.0}
    assert created["condition_config"]["no_data"] == "ok"
    assert created["notification_config"]["channels"] == [
        {"kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret_set": True},
        {"kind": "email", "to": ["ops@example.com"]},
        {"kind": "slack", "host": "hooks.slack.test"},
    ]
    assert created["state"] == "ok" and created["next_run_at"] is not None
    assert created["owner_id"] == str(owner.actor.user_id)

    alert_id = created["id"]
    opened = await owner.request("GET", f"/alerts/{alert_id}")
    assert opened.json() == created
    listed = await owner.request("GET", "/alerts")
    assert [item["id"] for item in listed.json()["items"]] == [alert_id]

    # Without its secret, a webhook of the same URL keeps the stored one.
    changed = await owner.request(
        "PATCH",
        f"/alerts/{alert_id}",
        json={
            "name": "renamed",
            "notification_config": {
                "channels": [{"kind": "webhook", "url": "http://127.0.0.1:9/hook"}]
            },
            "is_active": False,
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "renamed" and changed.json()["next_run_at"] is None
    assert changed.json()["notification_config"]["channels"][0]["secret_set"] is True

    deleted = await owner.request("DELETE", f"/alerts/{alert_id}")
    assert deleted.status_code == 204
    assert (await owner.request("GET", f"/alerts/{alert_id}")).status_code == 404

    events = await events_of(alert_service.database, alert_id)
    assert [e["type"] for e in events] == ["alert.created", "alert.updated", "alert.deleted"]
    assert events[0]["data"]["channels"] == ["webhook", "email", "slack"]
    assert set(events[1]["data"]["changed_fields"]) == {"name", "notification", "is_active"}
    texts = [r.text for r in (opened, listed, changed)] + [str(e) for e in events]
    assert not any(SECRET in text for text in texts)


async def test_another_tenants_alert_is_not_found_and_roles_hold(
    alert_service: AlertService, tenant: uuid.UUID
) -> None:
    owner = alert_service.client(Actor(tenant, EDITOR))
    alert_id = (await owner.create_alert())["id"]
    stranger = alert_service.client(Actor(uuid.uuid4(), ADMIN))
    for method, path in (
        ("GET", f"/alerts/{alert_id}"),
        ("PATCH", f"/alerts/{alert_id}"),
        ("DELETE", f"/alerts/{alert_id}"),
        ("POST", f"/alerts/{alert_id}/evaluate"),
        ("POST", f"/alerts/{alert_id}/test-notification"),
        ("GET", f"/alerts/{alert_id}/history"),
    ):
        response = await stranger.request(method, path, json={"name": "x"})
        assert response.status_code == 404, (method, path, response.text)
    assert (await stranger.request("GET", "/alerts")).json()["items"] == []

    viewer = alert_service.client(Actor(tenant, VIEWER))
    assert (await viewer.request("GET", f"/alerts/{alert_id}")).status_code == 200
    response = await viewer.request("PATCH", f"/alerts/{alert_id}", json={"name": "x"})
    assert response.status_code == 403
    assert (await viewer.request("POST", "/alerts", json=an_alert())).status_code == 403
    other_editor = alert_service.client(Actor(tenant, EDITOR))
    response = await other_editor.request("DELETE", f"/alerts/{alert_id}")
    assert response.status_code == 403  # owner_only
    nobody = alert_service.client(Actor(tenant, []))
    assert (await nobody.request("GET", f"/alerts/{alert_id}")).status_code == 404


def _locs(response: Any) -> list[list[str]]:
    return [entry["loc"] for entry in response.json()["error"]["details"]]


async def test_invalid_conditions_schedules_and_channels_are_422_naming_the_field(
    alert_service: AlertService, tenant: uuid.UUID
) -> None:
    owner = alert_service.client(Actor(tenant, ADMIN))
    cases: list[tuple[dict[str, Any], list[str]]] = [
        (
            {
                "condition_config": {
                    "value": {"kind": "column"},
                    "threshold": {"op": ">", "value": 1},
                }
            },
            ["body", "condition_config", "value", "column", "column"],
        ),
        (
            {
                "condition_config": {
                    "value": {"kind": "row_count"},
                    "threshold": {"op": "~", "value": 1},
                }
            },
            ["body", "condition_config", "threshold", "op"],
        ),
        (
            {
                "condition_config": {
                    "value": {"kind": "aggregate", "function": "median", "column": "v"},
                    "threshold": {"op": ">", "value": 1},
                }
            },
            ["body", "condition_config", "value", "aggregate", "function"],
        ),
        (
            {
                "condition_config": {
                    "value": {"kind": "row_count"},
                    "threshold": {"op": ">", "value": 1},
                    "no_data": "panic",
                }
            },
            ["body", "condition_config", "no_data"],
        ),
        (
            {"schedule": {"kind": "interval", "seconds": 0}},
            ["body", "schedule", "interval", "seconds"],
        ),
        (
            {"schedule": {"kind": "cron", "expression": "every monday"}},
            ["body", "schedule", "expression"],
        ),
        (
            {"schedule": {"kind": "cron", "expression": "0 0 30 2 *"}},
            ["body", "schedule", "expression"],
        ),
        (
            {"notification_config": {"channels": [{"kind": "webhook", "url": "http://x.test/h"}]}},
            ["body", "notification_config", "channels", "0", "secret"],
        ),
        (
            {"notification_config": {"channels": [{"kind": "email", "to": ["not an address"]}]}},
            ["body", "notification_config", "channels", "0", "email", "to", "0"],
        ),
        (
            {"notification_config": {"channels": [{"kind": "pager", "to": "x"}]}},
            ["body", "notification_config", "channels", "0"],
        ),
        ({"notification_config": {"channels": []}}, ["body", "notification_config", "channels"]),
        ({"mute_until": "2030-01-01T00:00:00"}, ["body", "mute_until"]),  # no time zone
    ]
    for override, loc in cases:
        response = await owner.request("POST", "/alerts", json=an_alert(**override))
        assert response.status_code == 422, (override, response.text)
        assert loc in _locs(response), (override, response.json())


def test_an_interval_below_the_services_minimum_is_refused_naming_the_field() -> None:
    check_schedule(IntervalSchedule(kind="interval", seconds=60), 60)
    with pytest.raises(Invalid) as refused:
        check_schedule(IntervalSchedule(kind="interval", seconds=59), 60)
    assert refused.value.details[0]["loc"] == ["body", "schedule", "seconds"]


async def test_an_update_names_the_bad_field(
    alert_service: AlertService, tenant: uuid.UUID
) -> None:
    owner = alert_service.client(Actor(tenant, ADMIN))
    schedule = {"kind": "cron", "expression": "*/5 * * * *"}
    alert_id = (await owner.create_alert(schedule=schedule))["id"]
    response = await owner.request(
        "PATCH",
        f"/alerts/{alert_id}",
        json={"schedule": {"kind": "cron", "expression": "61 * * * *"}},
    )
    assert response.status_code == 422 and ["body", "schedule", "expression"] in _locs(response)
    response = await owner.request("PATCH", f"/alerts/{alert_id}", json={"name": None})
    assert response.status_code == 422 and ["body", "name"] in _locs(response)
    assert (await owner.request("PATCH", f"/alerts/{alert_id}", json={})).status_code == 422


async def test_pages_follow_the_cursor(alert_service: AlertService, tenant: uuid.UUID) -> None:
    owner = alert_service.client(Actor(tenant, ADMIN))
    made = [(await owner.create_alert())["id"] for _ in range(3)]
    first = (await owner.request("GET", "/alerts", params={"limit": 2})).json()
    second = (
        await owner.request("GET", "/alerts", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert [a["id"] for a in first["items"] + second["items"]] == made
    assert second["next_cursor"] is None
    response = await owner.request("GET", "/alerts", params={"cursor": "nonsense"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_cursor"
