"""Test support for the dashboard service: callers with tokens signed by a test key, and the app."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

# Re-exported: this service's tests take their tokens from here.
from lookout_testing.tokens import AUDIENCE as AUDIENCE
from lookout_testing.tokens import ISSUER as ISSUER
from lookout_testing.tokens import Actor as Actor
from lookout_testing.tokens import SigningKeys as SigningKeys


def permission(action: str, conditions: dict[str, Any] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"resource": "dashboard", "action": action}
    if conditions is not None:
        entry["conditions"] = conditions
    return entry


MEMBER = [permission("create")]


class Client:
    """The dashboard API as one actor sees it."""

    def __init__(self, http: httpx.AsyncClient, keys: SigningKeys, actor: Actor) -> None:
        self.http = http
        self.actor = actor
        self.headers = {"Authorization": f"Bearer {keys.token(actor)}"}

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def create(self, **overrides: Any) -> dict[str, Any]:
        response = await self.request("POST", "/dashboards", json=a_dashboard(**overrides))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


def a_dashboard(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"Sales {uuid.uuid4().hex[:6]}",
        "description": "Revenue by region",
        "tags": ["finance"],
        "is_public": False,
        "components": [
            {
                "id": "revenue",
                "type": "chart",
                "chart_type": "bar",
                "parameter_bindings": {"region": "region"},
            },
            {"id": "total", "type": "metric", "value_field": "sum"},
        ],
        "layout": {
            "items": [
                {"component_id": "revenue", "x": 0, "y": 0, "w": 16, "h": 6},
                {"component_id": "total", "x": 16, "y": 0, "w": 8, "h": 6},
            ]
        },
        "filters": [
            {
                "id": "region",
                "type": "select",
                "label": "Region",
                "parameter": "region",
                "default": "eu",
                "options": ["eu", "us"],
            }
        ],
    }
    body.update(overrides)
    return body
