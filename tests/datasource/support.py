"""Test support for the datasource service: callers with tokens signed by a test key, and bodies."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

# Re-exported: this service's tests take their tokens from here.
from lookout_testing.tokens import AUDIENCE as AUDIENCE
from lookout_testing.tokens import ISSUER as ISSUER
from lookout_testing.tokens import Actor as Actor
from lookout_testing.tokens import SigningKeys as SigningKeys


def permission(
    resource: str, action: str, conditions: dict[str, Any] | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"resource": resource, "action": action}
    if conditions is not None:
        entry["conditions"] = conditions
    return entry


# The built-in roles of identity, as far as this service is concerned.
ADMIN = [permission("data_source", "admin"), permission("saved_query", "admin")]
EDITOR = [
    permission("data_source", "read"),
    permission("data_source", "execute"),
    permission("saved_query", "read"),
    permission("saved_query", "create"),
    permission("saved_query", "execute"),
    permission("saved_query", "update", {"owner_only": True}),
    permission("saved_query", "delete", {"owner_only": True}),
    permission("saved_query", "share", {"owner_only": True}),
]
VIEWER = [
    permission("data_source", "read"),
    permission("saved_query", "read"),
    permission("saved_query", "execute"),
]
PASSWORD = "s3cret-" + uuid.uuid4().hex  # what no response, event or log line may ever show


class Client:
    """The datasource API as one actor sees it."""

    def __init__(self, http: httpx.AsyncClient, token: str, actor: Actor) -> None:
        self.http = http
        self.actor = actor
        self.headers = {"Authorization": f"Bearer {token}"}
        self.responses: list[httpx.Response] = []

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = await self.http.request(method, path, headers=headers, **kwargs)
        self.responses.append(response)
        return response

    async def create_source(self, **overrides: Any) -> dict[str, Any]:
        response = await self.request("POST", "/data-sources", json=a_source(**overrides))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def create_query(self, data_source_id: str, **overrides: Any) -> dict[str, Any]:
        body = a_query(data_source_id, **overrides)
        response = await self.request("POST", "/saved-queries", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


def a_source(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"warehouse {uuid.uuid4().hex[:8]}",
        "type": "postgresql",
        "connection_config": {
            "host": "127.0.0.1",
            "port": 5432,
            "database": "warehouse",
            "user": "reporter",
            "password": PASSWORD,
        },
    }
    body.update(overrides)
    return body


def a_query(data_source_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"revenue {uuid.uuid4().hex[:8]}",
        "description": "Revenue by region",
        "query_text": "SELECT region, sum(amount) FROM sales WHERE region = {{ region }} GROUP BY 1",
        "data_source_id": data_source_id,
        "parameters": [
            {"name": "region", "type": "enum", "options": ["eu", "us"], "default": "eu"},
            {"name": "since", "type": "date", "default": "2026-01-01", "required": True},
        ],
        "is_public": False,
    }
    body.update(overrides)
    return body
