"""The kit's service client against the real identity (in-process) and a callee that verifies
service tokens as every service does: tokens for a tenant, cached until expiry, retries,
trace context, and revocation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from lookout_contracts import parse_event
from lookout_identity.keyring import DatabaseKeySource
from lookout_identity.service.service_tokens import revoke_service_tokens
from lookout_kit.auth.jwks import JwksCache
from lookout_kit.auth.revocation import RevocationCache
from lookout_kit.auth.verify import TokenVerifier
from lookout_kit.errors import install_error_handlers
from lookout_kit.retry import Backoff
from lookout_kit.service_client import (
    ServiceClient,
    ServiceCredentialsRefused,
    ServiceUnavailable,
)
from lookout_kit.telemetry import configure_tracing
from opentelemetry import trace
from pydantic import SecretStr

from .conftest import Identity
from .factories import signup

SECRET = SecretStr("alert-secret-for-tests")  # conftest's service_clients


class ByHost(httpx.AsyncBaseTransport):
    """Routes each request to the app of its host (identity, the callee); others are down."""

    def __init__(self, apps: dict[str, httpx.AsyncBaseTransport]) -> None:
        self.apps = apps

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        app = self.apps.get(request.url.host)
        if app is None:
            raise httpx.ConnectError("connection refused", request=request)
        return await app.handle_async_request(request)


@dataclass
class Callee:
    app: FastAPI
    revocations: RevocationCache
    calls: dict[str, int] = field(default_factory=dict)
    traceparents: list[str | None] = field(default_factory=list)


def callee(identity: Identity) -> Callee:
    revocations = RevocationCache()
    verifier = TokenVerifier(
        JwksCache(DatabaseKeySource(identity.components.keyring), min_refetch_interval_s=0.1),
        issuer=identity.settings.jwt_issuer,
        audience=identity.settings.jwt_audience,
        revocations=revocations,
    )
    app = FastAPI()
    install_error_handlers(app)
    built = Callee(app, revocations)

    async def caller(request: Request) -> Any:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return await verifier.verify_service(token)

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        service = await caller(request)
        built.traceparents.append(request.headers.get("traceparent"))
        return {"service": service.service, "tenant_id": str(service.tenant_id)}

    @app.api_route("/flaky", methods=["GET", "POST"])
    async def flaky(request: Request) -> Response:
        await caller(request)
        key = request.method
        built.calls[key] = built.calls.get(key, 0) + 1
        if built.calls[key] <= 2:
            return Response(status_code=503)
        return Response(status_code=200, content=str(built.calls[key]))

    return built


@dataclass
class Clock:
    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def called(identity: Identity) -> AsyncIterator[tuple[Callee, ServiceClient, Clock]]:
    built = callee(identity)
    clock = Clock()
    transport = ByHost(
        {
            "identity": httpx.ASGITransport(app=identity.app),
            "callee": httpx.ASGITransport(app=built.app),
        }
    )
    client = ServiceClient(
        base_url="http://callee",
        identity_url="http://identity",
        service="alert",
        secret=SECRET,
        backoff=Backoff(0.01, 0.02),
        transport=transport,
        clock=clock,
    )
    yield built, client, clock
    await client.aclose()


async def test_a_token_for_the_tenant_is_cached_until_it_nears_expiry(
    identity: Identity, called: tuple[Callee, ServiceClient, Clock]
) -> None:
    _, client, clock = called
    tenant = uuid.UUID((await signup(identity.client)).tenant_id)
    for _ in range(3):
        response = await client.request("GET", "/whoami", tenant_id=tenant)
        assert response.json() == {"service": "alert", "tenant_id": str(tenant)}
    assert client.tokens_fetched == 1
    clock.now += identity.settings.service_token_ttl_s - 31  # still before renewal
    await client.request("GET", "/whoami", tenant_id=tenant)
    assert client.tokens_fetched == 1
    clock.now += 2  # within the margin before expiry: renewed
    await client.request("GET", "/whoami", tenant_id=tenant)
    assert client.tokens_fetched == 2
    other = uuid.UUID((await signup(identity.client)).tenant_id)
    response = await client.request("GET", "/whoami", tenant_id=other)
    assert response.json()["tenant_id"] == str(other)  # a token per tenant
    assert client.tokens_fetched == 3


async def test_the_trace_goes_with_the_call(
    identity: Identity, called: tuple[Callee, ServiceClient, Clock]
) -> None:
    built, client, _ = called
    tenant = uuid.UUID((await signup(identity.client)).tenant_id)
    configure_tracing("kittest", None, 1.0)
    with trace.get_tracer("test").start_as_current_span("calling") as span:
        await client.request("GET", "/whoami", tenant_id=tenant)
        trace_id = format(span.get_span_context().trace_id, "032x")
    assert built.traceparents[-1] is not None and trace_id in built.traceparents[-1]


async def test_unavailable_answers_are_retried_for_idempotent_calls_only(
    identity: Identity, called: tuple[Callee, ServiceClient, Clock]
) -> None:
    built, client, _ = called
    tenant = uuid.UUID((await signup(identity.client)).tenant_id)
    response = await client.request("GET", "/flaky", tenant_id=tenant)
    assert (response.status_code, built.calls["GET"]) == (200, 3)
    response = await client.request("POST", "/flaky", tenant_id=tenant)
    assert (response.status_code, built.calls["POST"]) == (503, 1)


async def test_an_unreachable_service_is_a_clear_error_after_the_retries(
    identity: Identity,
) -> None:
    tenant = uuid.UUID((await signup(identity.client)).tenant_id)
    down = ServiceClient(
        base_url="http://down",
        identity_url="http://identity",
        service="alert",
        secret=SECRET,
        backoff=Backoff(0.01, 0.02),
        transport=ByHost({"identity": httpx.ASGITransport(app=identity.app)}),
    )
    try:
        with pytest.raises(ServiceUnavailable):
            await down.request("GET", "/whoami", tenant_id=tenant)
    finally:
        await down.aclose()


async def test_refused_credentials_and_unknown_tenants(
    identity: Identity, called: tuple[Callee, ServiceClient, Clock]
) -> None:
    built, _, _ = called
    tenant = uuid.UUID((await signup(identity.client)).tenant_id)
    transport = ByHost(
        {
            "identity": httpx.ASGITransport(app=identity.app),
            "callee": httpx.ASGITransport(app=built.app),
        }
    )
    wrong = ServiceClient(
        base_url="http://callee",
        identity_url="http://identity",
        service="alert",
        secret=SecretStr("not the secret"),
        transport=transport,
    )
    try:
        with pytest.raises(ServiceCredentialsRefused):
            await wrong.request("GET", "/whoami", tenant_id=tenant)
    finally:
        await wrong.aclose()
    _, client, _ = called
    with pytest.raises(ServiceCredentialsRefused):
        await client.request("GET", "/whoami", tenant_id=uuid.uuid4())


async def test_revoked_service_tokens_are_refused_and_a_new_one_is_fetched(
    identity: Identity, called: tuple[Callee, ServiceClient, Clock]
) -> None:
    built, client, _ = called
    tenant = uuid.UUID((await signup(identity.client)).tenant_id)
    assert (await client.request("GET", "/whoami", tenant_id=tenant)).status_code == 200
    issued = await identity.client.post(
        "/auth/service-token",
        json={"service": "alert", "secret": SECRET.get_secret_value(), "tenant_id": str(tenant)},
    )
    old_token = issued.json()["access_token"]
    await asyncio.sleep(0.01)  # token times have millisecond precision
    await revoke_service_tokens(identity.components, "alert", "rotated")
    # What every service's revocation subscriber does with identity's event.
    payload = await identity.components.pool.fetchval(
        "SELECT payload FROM outbox WHERE event_type = 'service_tokens.revoked'"
    )
    event = parse_event(payload)
    assert event.data.service == "alert" and event.tenant_id == uuid.UUID(int=0)
    built.revocations.apply(event)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=built.app), base_url="http://callee"
    ) as direct:
        refused = await direct.get("/whoami", headers={"Authorization": f"Bearer {old_token}"})
    assert refused.status_code == 401
    # The cached token is refused now; the client drops it and its next token is valid.
    response = await client.request("GET", "/whoami", tenant_id=tenant)
    assert response.status_code == 200
    assert client.tokens_fetched == 2


async def test_identity_unavailable_is_a_clear_error(
    identity: Identity, called: tuple[Callee, ServiceClient, Clock]
) -> None:
    built, _, _ = called
    down = FastAPI()

    @down.post("/auth/service-token")
    async def unavailable() -> Response:
        return Response(status_code=503)

    client = ServiceClient(
        base_url="http://callee",
        identity_url="http://identity",
        service="alert",
        secret=SECRET,
        backoff=Backoff(0.01, 0.02),
        transport=ByHost(
            {
                "identity": httpx.ASGITransport(app=down),
                "callee": httpx.ASGITransport(app=built.app),
            }
        ),
    )
    try:
        for method in ("GET", "POST"):
            with pytest.raises(ServiceUnavailable):
                await client.request(method, "/whoami", tenant_id=uuid.uuid4())
    finally:
        await client.aclose()
