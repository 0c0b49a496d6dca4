"""The kit's app factory: health, metrics, the JSON error model and request ids, with real servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from lookout_kit.app import create_service_app
from lookout_kit.errors import Conflict, NotFound, TooManyRequests
from lookout_kit.settings import ServiceSettings
from lookout_testing.broker import PrivateBroker
from lookout_testing.servers import Servers
from pydantic import BaseModel, Field

router = APIRouter()


class Widget(BaseModel):
    name: str = Field(min_length=1, max_length=10)
    size: int = Field(ge=0)


@router.post("/widgets")
async def create_widget(widget: Widget) -> Widget:
    return widget


@router.get("/widgets/{widget_id}")
async def get_widget(widget_id: int) -> Widget:
    if widget_id == 409:
        raise Conflict("widget is busy", details={"widget_id": widget_id})
    if widget_id == 429:
        raise TooManyRequests("slow down", details={"retry_after_s": 7})
    raise NotFound("no such widget")


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internals")


async def client_for(settings: ServiceSettings) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_service_app(
        settings, service_package="lookout_kit", title="t", routers=[router]
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
async def client(database: str, servers: Servers) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(
        service_name="kittest", database_url=database, kafka_bootstrap_servers=servers.kafka
    )
    async for c in client_for(settings):
        yield c


async def test_health_endpoints(client: httpx.AsyncClient) -> None:
    assert (await client.get("/livez")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    for _ in range(50):
        if ready.status_code == 200:
            break
        ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text


async def test_readyz_names_the_unreachable_broker(
    database: str, private_broker: PrivateBroker
) -> None:
    settings = ServiceSettings(
        service_name="kittest",
        database_url=database,
        kafka_bootstrap_servers=private_broker.bootstrap_servers,
        kafka_request_timeout_ms=1_000,
    )
    async for client in client_for(settings):
        await private_broker.stop()
        response = await client.get("/readyz")
        assert response.status_code == 503
        body = response.json()["error"]
        assert body["code"] == "unavailable" and "kafka" in body["details"]


async def test_metrics_in_prometheus_format(client: httpx.AsyncClient) -> None:
    await client.get("/widgets/1")
    text = (await client.get("/metrics")).text
    assert "# TYPE lookout_http_requests_total counter" in text
    assert 'route="/widgets/{widget_id}"' in text


async def test_errors_share_one_json_model(client: httpx.AsyncClient) -> None:
    cases = {
        ("GET", "/nowhere", None): (404, "not_found"),
        ("GET", "/widgets/1", None): (404, "not_found"),
        ("GET", "/widgets/409", None): (409, "conflict"),
        ("GET", "/widgets/abc", None): (422, "invalid"),
        ("POST", "/widgets", b"{not json"): (422, "invalid"),
        ("POST", "/widgets", b'{"name": "", "size": -1}'): (422, "invalid"),
        ("DELETE", "/widgets/1", None): (405, "method_not_allowed"),
        ("GET", "/boom", None): (500, "internal"),
    }
    for (method, path, body), (status, code) in cases.items():
        response = await client.request(
            method, path, content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == status, (path, response.text)
        error = response.json()["error"]
        assert error["code"] == code
        assert isinstance(error["message"], str) and error["message"]
        assert "secret internals" not in response.text


async def test_validation_error_points_at_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/widgets", json={"name": "ok", "size": -5})
    details = response.json()["error"]["details"]
    assert any(d["loc"][-1] == "size" for d in details)


async def test_too_many_requests_carries_retry_after(client: httpx.AsyncClient) -> None:
    response = await client.get("/widgets/429")
    assert response.status_code == 429 and response.headers["retry-after"] == "7"


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/widgets/1", headers={"x-request-id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    assert echoed.json()["error"]["request_id"] == "abc-123"
    made = await client.get("/livez")
    assert len(made.headers["x-request-id"]) == 32
