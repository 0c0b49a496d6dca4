"""A tenant of a test's own, signed up through identity as a user would (the gateway's
``/api/identity/signup``, or identity itself with ``path="/signup"``)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

PASSWORD = "a passphrase long enough"


def signup_body(prefix: str = "t", password: str = PASSWORD) -> dict[str, str]:
    """A sign-up of a fresh tenant and its admin, every unique field unique to this call."""
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    return {
        "tenant_name": name,
        "tenant_slug": name,
        "username": name,
        "email": f"{name}@example.com",
        "password": password,
    }


async def signup(
    http: httpx.AsyncClient, prefix: str = "t", *, path: str = "/api/identity/signup"
) -> dict[str, Any]:
    """Sign a fresh tenant up; identity's answer (``tenant``, ``user``, ``tokens``) plus the
    ``username`` it was given."""
    body = signup_body(prefix)
    response = await http.post(path, json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return {**answer, "username": body["username"]}


def bearer(account: dict[str, Any]) -> dict[str, str]:
    """The account's access token as a request's Authorization header."""
    return {"Authorization": f"Bearer {account['tokens']['access_token']}"}
