"""Test support for the dashboard service: callers with tokens signed by a test key, and the app."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

ISSUER = "lookout-identity"
AUDIENCE = "lookout"


class SigningKeys:
    """A signing key of the test's own, served as a JWKS (the kit's ``KeySource`` protocol)."""

    def __init__(self) -> None:
        self.private_key = Ed25519PrivateKey.generate()
        self.kid = uuid.uuid4().hex

    async def fetch(self) -> dict[str, Any]:
        public = OKPAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "alg": "EdDSA", "use": "sig"}]}

    def token(self, caller: Actor, *, ttl_s: int = 600) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(caller.user_id),
            "tenant": str(caller.tenant_id),
            "role": str(caller.role_id),
            "sid": caller.session_id,
            "perms": caller.permissions,
            "iat": now,
            "exp": now + ttl_s,
            "token_use": "access",
        }
        return jwt.encode(claims, self.private_key, algorithm="EdDSA", headers={"kid": self.kid})


@dataclass
class Actor:
    """A user of a tenant with a role's permissions, as identity would put them in a token."""

    tenant_id: uuid.UUID
    role_id: uuid.UUID = field(default_factory=uuid.uuid4)
    permissions: list[dict[str, Any]] = field(default_factory=list)
    user_id: uuid.UUID = field(default_factory=uuid.uuid4)
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)


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
