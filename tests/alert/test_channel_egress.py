"""Where notifications may go (the kit's egress policy, ``EGRESS_*``): a webhook or Slack URL whose
host is, or resolves to, a refused address (private and link-local ranges, the platform's own
servers; loopback is allowed here, as in the local stack) is 422 naming the field when an alert is
made or changed; and a name that resolves to one only later is refused at delivery, after DNS
resolution, with no connection attempted."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from .conftest import PLATFORM_PORT, AlertService
from .support import ADMIN, SECRET, Actor, WebhookReceiver, an_alert, set_metric

PLATFORM_URL = f"http://127.0.0.1:{PLATFORM_PORT}/hook"


def webhook(url: str) -> dict[str, Any]:
    return {"kind": "webhook", "url": url, "secret": SECRET}


@pytest.mark.parametrize(
    ("channels", "index"),
    [
        ([webhook("http://10.20.30.40/hook")], 0),  # a private network
        ([webhook("http://[fd00::1]:8080/hook")], 0),
        ([{"kind": "email", "to": ["ops@example.com"]}, webhook(PLATFORM_URL)], 1),
        ([{"kind": "slack", "url": "https://169.254.169.254/latest/meta-data"}], 0),  # metadata
        ([webhook(f"http://localhost:{PLATFORM_PORT}/hook")], 0),  # a name, resolved
    ],
)
async def test_a_refused_target_is_422_naming_its_url_at_create_and_update(
    alert_service: AlertService, tenant: uuid.UUID, channels: list[dict[str, Any]], index: int
) -> None:
    admin = alert_service.client(Actor(tenant, ADMIN))
    field = ["body", "notification_config", "channels", str(index), "url"]

    body = an_alert(
        query_id=await alert_service.query_of(tenant), notification_config={"channels": channels}
    )
    created = await admin.request("POST", "/alerts", json=body)
    assert created.status_code == 422, created.text
    assert created.json()["error"]["code"] == "egress_refused"
    assert [detail["loc"] for detail in created.json()["error"]["details"]] == [field]

    alert = await admin.create_alert()
    changed = await admin.request(
        "PATCH", f"/alerts/{alert['id']}", json={"notification_config": {"channels": channels}}
    )
    assert changed.status_code == 422, changed.text
    assert [detail["loc"] for detail in changed.json()["error"]["details"]] == [field]
    for response in (created, changed):  # the target is named by its field, not shown
        assert "169.254" not in response.text and "10.20" not in response.text
    assert (await admin.request("GET", f"/alerts/{alert['id']}")).json() == alert


class Listener:
    """A TCP server that counts the connections made to it (and answers none)."""

    def __init__(self) -> None:
        self.connections = 0

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()


@asynccontextmanager
async def listening(port: int) -> AsyncIterator[Listener]:
    listener = Listener()
    server = await asyncio.start_server(listener._accept, "127.0.0.1", port)
    try:
        yield listener
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def resolving(name: str, address: str) -> AsyncIterator[None]:
    """DNS as this process sees it: ``name`` resolves to ``address`` (as a name that pointed
    elsewhere when the alert was made may later)."""
    loop = asyncio.get_running_loop()
    original = loop.getaddrinfo

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in (name, name.encode()):  # anyio asks with the name IDNA-encoded
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]
        return await original(host, port, *args, **kwargs)

    loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]
    try:
        yield
    finally:
        del loop.getaddrinfo  # the class's again


async def test_a_name_resolving_to_a_refused_address_at_delivery_gets_no_connection(
    alert_service: AlertService, tenant: uuid.UUID
) -> None:
    admin = alert_service.client(Actor(tenant, ADMIN))
    name = f"hook-{uuid.uuid4().hex[:8]}.lookout.test"
    metric = f"egress-{uuid.uuid4().hex[:8]}"
    await set_metric(alert_service.data_database, metric, 0)
    async with WebhookReceiver() as allowed, listening(PLATFORM_PORT) as platform:
        # The name resolves to nothing when the alert is made: it passes (checked at delivery).
        alert = await admin.create_alert(
            notification_config={
                "channels": [webhook(f"http://{name}:{PLATFORM_PORT}/hook"), webhook(allowed.url)]
            },
            parameter_values={"name": metric},
            schedule={"kind": "interval", "seconds": 3600},
        )
        async with resolving(name, "127.0.0.1"):  # the platform's server at that port
            tested = await admin.request("POST", f"/alerts/{alert['id']}/test-notification")
            await set_metric(alert_service.data_database, metric, 50)
            evaluated = await admin.evaluate(alert["id"])
        history = (await admin.history(alert["id"]))["items"]

    assert platform.connections == 0
    assert tested.status_code == 200, tested.text
    outcomes = [(o["delivered"], o["attempts"]) for o in tested.json()["channels"]]
    assert outcomes == [(False, 1), (True, 1)]
    assert "may not go to" in tested.json()["channels"][0]["error_message"]
    assert evaluated["state"] == "triggered"
    # The trigger's delivery to it: refused once, not retried; the other channel got it.
    [triggered] = history
    deliveries = [(d["channel"], d["delivered"], d["attempts"]) for d in triggered["deliveries"]]
    assert deliveries == [("webhook", False, 1), ("webhook", True, 1)]
    assert [r["event"] for r in allowed.received] == ["test", "triggered"]
    assert name not in tested.text
