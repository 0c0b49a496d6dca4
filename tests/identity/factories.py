"""Test data for identity: tenants with their admin, users, logins — each unique per call."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

PASSWORD = "correct horse battery staple"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@dataclass
class Account:
    tenant_id: str
    user_id: str
    username: str
    email: str
    password: str
    access_token: str
    refresh_token: str
    session_id: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signup_body(**overrides: Any) -> dict[str, Any]:
    name = unique("t")
    body: dict[str, Any] = {
        "tenant_name": f"Tenant {name}",
        "tenant_slug": name,
        "username": unique("admin"),
        "email": f"{unique('a')}@example.com",
        "password": PASSWORD,
        "first_name": "Ada",
        "last_name": "Admin",
    }
    body.update(overrides)
    return body


async def signup(client: httpx.AsyncClient, **overrides: Any) -> Account:
    body = signup_body(**overrides)
    response = await client.post("/signup", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    return Account(
        tenant_id=data["tenant"]["id"],
        user_id=data["user"]["id"],
        username=body["username"],
        email=body["email"],
        password=body["password"],
        access_token=data["tokens"]["access_token"],
        refresh_token=data["tokens"]["refresh_token"],
        session_id=data["tokens"]["session_id"],
    )


async def role_id(client: httpx.AsyncClient, admin: Account, name: str) -> str:
    response = await client.get("/roles", headers=admin.headers)
    assert response.status_code == 200, response.text
    return next(role["id"] for role in response.json() if role["name"] == name)


async def add_user(
    client: httpx.AsyncClient, admin: Account, role: str = "viewer", **overrides: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "username": unique("user"),
        "email": f"{unique('u')}@example.com",
        "password": PASSWORD,
        "role_id": await role_id(client, admin, role),
    }
    body.update(overrides)
    response = await client.post("/users", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return {**response.json(), "password": body["password"]}


async def login(client: httpx.AsyncClient, login_name: str, password: str = PASSWORD) -> Account:
    response = await client.post("/auth/login", json={"login": login_name, "password": password})
    assert response.status_code == 200, response.text
    tokens = response.json()
    me = await client.get("/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200, me.text
    user = me.json()["user"]
    return Account(
        tenant_id=user["tenant_id"],
        user_id=user["id"],
        username=user["username"],
        email=user["email"],
        password=password,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        session_id=tokens["session_id"],
    )
