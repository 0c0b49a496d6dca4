"""What only the inside may see (issue 18): ``/metrics`` answers the cluster's own networks (what
Prometheus scrapes from), never a client the gateway forwarded from outside; the API's docs are
on locally and off in production unless switched on."""

from __future__ import annotations

import httpx
import pytest
from lookout_kit.app import create_service_app
from lookout_kit.settings import ServiceSettings

# What production refuses as local defaults, set to something that is not (no server is reached:
# these apps are asked about routes, never started).
PRODUCTION = {
    "env": "production",
    "kafka_bootstrap_servers": "kafka:9092",
    "forwarded_allow_ips": "10.1.2.3",
}
GATEWAY = "10.1.2.3"


def client_of(settings: ServiceSettings, address: str) -> httpx.AsyncClient:
    app = create_service_app(settings, service_package="lookout_kit", title="t")
    transport = httpx.ASGITransport(app=app, client=(address, 40_000))
    return httpx.AsyncClient(transport=transport, base_url="http://service")


@pytest.mark.parametrize(
    ("address", "forwarded_for", "status"),
    [
        ("127.0.0.1", None, 200),  # the host itself
        ("10.20.0.7", None, 200),  # a scraper in the cluster
        ("203.0.113.9", None, 404),  # outside
        (GATEWAY, "203.0.113.9", 404),  # outside, through the gateway
        (GATEWAY, "10.20.0.7", 200),  # inside, through the gateway
    ],
)
async def test_metrics_answer_the_inside_only(
    address: str, forwarded_for: str | None, status: int
) -> None:
    settings = ServiceSettings(forwarded_allow_ips=GATEWAY)
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    async with client_of(settings, address) as client:
        response = await client.get("/metrics", headers=headers)
    assert response.status_code == status, response.text
    if status == 200:
        assert b"lookout_http_requests_total" in response.content
    else:  # the same answer as a route that does not exist
        assert response.json()["error"]["code"] == "not_found"


async def test_the_allowed_networks_are_a_setting() -> None:
    settings = ServiceSettings(metrics_allow_ips="203.0.113.0/24")
    async with client_of(settings, "203.0.113.9") as client:
        assert (await client.get("/metrics")).status_code == 200
    async with client_of(settings, "127.0.0.1") as client:
        assert (await client.get("/metrics")).status_code == 404


def test_a_list_that_is_no_networks_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="metrics_allow_ips"):
        ServiceSettings(metrics_allow_ips="10.0.0.0/8,prometheus")


DOCS = ("/docs", "/redoc", "/openapi.json", "/asyncapi.json")


@pytest.mark.parametrize(
    ("values", "served"),
    [
        ({}, True),  # local
        (PRODUCTION, False),
        ({**PRODUCTION, "docs_enabled": True}, True),
        ({"docs_enabled": False}, False),
    ],
)
async def test_docs_are_on_locally_and_off_in_production(
    values: dict[str, object], served: bool
) -> None:
    settings = ServiceSettings(**values)  # type: ignore[arg-type]
    async with client_of(settings, "127.0.0.1") as client:
        for path in DOCS:
            response = await client.get(path)
            assert response.status_code == (200 if served else 404), (path, values)
