"""The batch endpoint: one outcome per item in the request's order, items run concurrently, and
the two ways to call it — a user with their own token, or a service (the kit's ``ServiceClient``,
a service token with the tenant) acting for a user with that user's access token and rights."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
from lookout_kit.service_client import ServiceClient
from lookout_testing.servers import Servers
from pydantic import SecretStr

from .conftest import DatasourceService
from .execution_support import executed_events, sales_source, service_token
from .support import ADMIN, PASSWORD, VIEWER, Actor, Client
from .test_executions import revenue_query


async def batch(client: Client, items: list[dict[str, Any]], **extra: Any) -> httpx.Response:
    return await client.request("POST", "/executions/batch", json={"items": items, **extra})


async def test_a_batch_answers_each_item_in_order(
    datasource: DatasourceService, tenant: uuid.UUID, database: str, servers: Servers
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    query = await revenue_query(admin, source)
    stranger = datasource.client(Actor(uuid.uuid4(), ADMIN))
    foreign = await stranger.create_source()
    items = [
        {"saved_query_id": query["id"], "values": {"since": "2026-01-01"}},
        {"data_source_id": source["id"], "query_text": "SELECT 1 AS one"},
        {"saved_query_id": query["id"], "values": {"since": "soon"}},
        {"saved_query_id": str(uuid.uuid4())},
        {"data_source_id": source["id"], "query_text": "SELECT * FROM nowhere"},
        {"data_source_id": foreign["id"], "query_text": "SELECT 1"},
        {"data_source_id": source["id"], "query_text": "SELECT pg_sleep(10)", "timeout_s": 1},
        {
            "saved_query_id": query["id"],
            "values": {"region": "us", "since": "2026-01-01"},
            "row_limit": 1,
        },
    ]
    response = await batch(admin, items)
    assert response.status_code == 200, response.text
    outcomes = response.json()["items"]
    assert [o["ok"] for o in outcomes] == [True, True, False, False, False, False, False, True]
    assert outcomes[0]["result"]["rows"] == [["eu", 30]]
    assert outcomes[1]["result"]["rows"] == [[1]] and outcomes[1]["error"] is None
    errors = [o["error"] for o in outcomes]
    assert (errors[2]["code"], errors[2]["status"]) == ("invalid_parameters", 422)
    assert errors[2]["details"][0]["loc"] == ["body", "items", "2", "values", "since"]
    assert errors[2]["execution_id"] is None
    assert (errors[3]["code"], errors[3]["status"]) == ("not_found", 404)
    assert (errors[4]["code"], errors[4]["status"]) == ("query_error", 422)
    assert errors[4]["execution_id"] is not None and "nowhere" in errors[4]["message"]
    assert (errors[5]["code"], errors[5]["status"]) == ("not_found", 404)
    assert errors[6]["code"] == "timeout" and errors[6]["details"]["status"] == "timeout"
    assert outcomes[7]["result"]["rows"] == [["us", 5]]

    # The five items that ran are five executions, each with its event.
    ran = {
        outcomes[0]["result"]["execution_id"],
        outcomes[1]["result"]["execution_id"],
        errors[4]["execution_id"],
        errors[6]["execution_id"],
        outcomes[7]["result"]["execution_id"],
    }
    events = await executed_events(servers, source["id"], 5, settle_s=1.0)
    assert {e["data"]["query_id"] for e in events} == ran and len(events) == 5
    assert {e["data"]["status"] for e in events} == {"success", "failed", "timeout"}
    assert PASSWORD not in response.text


async def test_batch_items_run_concurrently(
    datasource: DatasourceService, tenant: uuid.UUID, database: str
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    sleeper = {
        "data_source_id": source["id"],
        "query_text": "SELECT 1 AS slept FROM pg_sleep(0.6)",
    }
    started = time.monotonic()
    response = await batch(admin, [sleeper] * 4)  # the source's limit is 4 at once
    elapsed = time.monotonic() - started
    assert [o["result"]["rows"] for o in response.json()["items"]] == [[[1]]] * 4
    assert elapsed < 1.8, f"4 x 0.6 s took {elapsed:.2f} s: not concurrent"

    # Eight: two waves of four (the limit per source), not one of eight.
    started = time.monotonic()
    response = await batch(admin, [sleeper] * 8)
    elapsed = time.monotonic() - started
    assert all(outcome["ok"] for outcome in response.json()["items"])
    assert elapsed >= 1.2, f"8 x 0.6 s took {elapsed:.2f} s: more than 4 ran at once"


async def test_a_batch_holds_one_to_fifty_items(
    datasource: DatasourceService, tenant: uuid.UUID
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    item = {"saved_query_id": str(uuid.uuid4())}
    assert (await batch(admin, [])).status_code == 422
    assert (await batch(admin, [item] * 51)).status_code == 422
    response = await batch(admin, [item] * 50)
    assert response.status_code == 200
    assert [o["error"]["code"] for o in response.json()["items"]] == ["not_found"] * 50
    both = {"saved_query_id": str(uuid.uuid4()), "data_source_id": str(uuid.uuid4())}
    assert (await batch(admin, [both])).status_code == 422
    assert (await batch(admin, [{"values": {}}])).status_code == 422


def as_service(
    datasource: DatasourceService, actor: Actor, service: str, tenant_id: uuid.UUID | None
) -> Client:
    """A client sending a service token instead of the user's."""
    client = datasource.client(actor)
    client.headers = {
        "Authorization": f"Bearer {service_token(datasource.keys, service, tenant_id)}"
    }
    return client


async def test_a_service_runs_a_batch_with_the_users_rights(
    datasource: DatasourceService, tenant: uuid.UUID, database: str, servers: Servers
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    query = await revenue_query(admin, source)
    viewer = Actor(tenant, VIEWER)
    user_token = datasource.keys.token(viewer)
    items = [
        {"saved_query_id": query["id"], "values": {"since": "2026-01-01"}},
        {"data_source_id": source["id"], "query_text": "SELECT 1"},  # viewer: no execute
    ]
    dashboard = as_service(datasource, viewer, "dashboard", tenant)
    response = await batch(dashboard, items, user_access_token=user_token)
    assert response.status_code == 200, response.text
    first, second = response.json()["items"]
    assert first["ok"] and first["result"]["rows"] == [["eu", 30]]
    assert (second["error"]["code"], second["error"]["status"]) == ("forbidden", 403)
    [event] = await executed_events(servers, source["id"], 1)
    assert event["actor_id"] == str(viewer.user_id) and event["tenant_id"] == str(tenant)

    # The service's token alone is no user; a user's token cannot act for another.
    response = await batch(dashboard, items)
    assert (response.status_code, response.json()["error"]["code"]) == (
        422,
        "user_access_token_required",
    )
    response = await batch(datasource.client(viewer), items, user_access_token=user_token)
    assert (response.status_code, response.json()["error"]["code"]) == (
        403,
        "acting_needs_service",
    )
    other_tenant = as_service(datasource, viewer, "dashboard", uuid.uuid4())
    response = await batch(other_tenant, items, user_access_token=user_token)
    assert (response.status_code, response.json()["error"]["code"]) == (403, "tenant_mismatch")
    no_tenant = as_service(datasource, viewer, "dashboard", None)
    response = await batch(no_tenant, items, user_access_token=user_token)
    assert response.json()["error"]["code"] == "service_token_without_tenant"
    analytics = as_service(datasource, viewer, "analytics", tenant)
    response = await batch(analytics, items, user_access_token=user_token)
    assert (response.status_code, response.json()["error"]["code"]) == (
        403,
        "service_may_not_act",
    )
    expired = datasource.keys.token(viewer, ttl_s=-60)
    response = await batch(dashboard, items, user_access_token=expired)
    assert (response.status_code, response.json()["error"]["code"]) == (
        401,
        "invalid_user_access_token",
    )
    response = await datasource.http.post("/executions/batch", json={"items": items})
    assert response.status_code == 401
    # A bad token is 401 before the body is looked at.
    response = await datasource.http.post(
        "/executions/batch", json={"items": []}, headers={"Authorization": "Bearer nonsense"}
    )
    assert (response.status_code, response.json()["error"]["code"]) == (401, "invalid_token")


async def test_the_kits_service_client_calls_the_batch_for_a_user(
    datasource: DatasourceService, tenant: uuid.UUID, database: str
) -> None:
    """As the dashboard service will: ``ServiceClient.request(..., tenant_id=...)`` with the
    user's access token in the body (identity's token endpoint played by this test)."""
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    query = await revenue_query(admin, source)
    viewer = Actor(tenant, VIEWER)
    asked: list[dict[str, Any]] = []

    class Transport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == "/auth/service-token":
                body = json.loads(request.content)
                asked.append(body)
                token = service_token(
                    datasource.keys, body["service"], uuid.UUID(body["tenant_id"])
                )
                return httpx.Response(200, json={"access_token": token, "expires_in": 600})
            forwarded = datasource.http.build_request(
                request.method, request.url.path, content=request.content, headers=request.headers
            )
            response = await datasource.http.send(forwarded)
            return httpx.Response(
                response.status_code, content=response.content, headers=response.headers
            )

    client = ServiceClient(
        base_url="http://datasource",
        identity_url="http://identity",
        service="dashboard",
        secret=SecretStr("dashboard-secret"),
        transport=Transport(),
    )
    try:
        response = await client.request(
            "POST",
            "/executions/batch",
            tenant_id=tenant,
            json={
                "user_access_token": datasource.keys.token(viewer),
                "items": [{"saved_query_id": query["id"], "values": {"since": "2026-02-01"}}],
            },
        )
    finally:
        await client.aclose()
    assert response.status_code == 200, response.text
    assert response.json()["items"][0]["result"]["rows"] == [["eu", 20]]
    assert asked == [
        {"service": "dashboard", "secret": "dashboard-secret", "tenant_id": str(tenant)}
    ]


async def test_a_refused_user_access_token_is_never_echoed(
    datasource: DatasourceService, tenant: uuid.UUID
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    secret_like = "x" * 20_000
    response = await batch(
        admin, [{"saved_query_id": str(uuid.uuid4())}], user_access_token=secret_like
    )
    assert response.status_code == 422 and secret_like not in response.text


async def test_a_tenant_service_runs_its_tenants_saved_queries_without_a_user(
    datasource: DatasourceService, tenant: uuid.UUID, database: str, servers: Servers
) -> None:
    """The alert service's scheduler: its token (with the tenant) alone runs that tenant's saved
    queries, with view rights on them and nothing else; the executions have no actor."""
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    query = await revenue_query(admin, source)
    stranger = datasource.client(Actor(uuid.uuid4(), ADMIN))
    foreign = await stranger.create_query((await stranger.create_source())["id"])
    items = [
        {"saved_query_id": query["id"], "values": {"since": "2026-01-01"}},
        {"data_source_id": source["id"], "query_text": "SELECT 1"},
        {"saved_query_id": foreign["id"], "values": {"since": "2026-01-01"}},
    ]
    alert = as_service(datasource, Actor(tenant, VIEWER), "alert", tenant)
    response = await batch(alert, items)
    assert response.status_code == 200, response.text
    first, ad_hoc, other = response.json()["items"]
    assert first["ok"] and first["result"]["rows"] == [["eu", 30]]
    assert (ad_hoc["error"]["code"], ad_hoc["error"]["status"]) == ("not_found", 404)
    assert (other["error"]["code"], other["error"]["status"]) == ("not_found", 404)
    [event] = await executed_events(servers, source["id"], 1)
    assert event["actor_id"] is None and event["tenant_id"] == str(tenant)

    # Only a tenant service: the dashboard's token alone is no user.
    dashboard = as_service(datasource, Actor(tenant, VIEWER), "dashboard", tenant)
    response = await batch(dashboard, items[:1])
    assert response.json()["error"]["code"] == "user_access_token_required"
    no_tenant = as_service(datasource, Actor(tenant, VIEWER), "alert", None)
    response = await batch(no_tenant, items[:1])
    assert response.json()["error"]["code"] == "service_token_without_tenant"
