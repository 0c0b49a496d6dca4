"""A tenant of a benchmark's own, signed up through identity (and deleted by the benchmark after)."""

from __future__ import annotations

import uuid

import httpx

PASSWORD = "bench passphrase long enough"


async def signup(client: httpx.AsyncClient, prefix: str = "bench") -> dict[str, str]:
    """Sign up a fresh tenant and its admin through ``client`` (based at identity)."""
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    response = await client.post(
        "/signup",
        json={
            "tenant_name": name,
            "tenant_slug": name,
            "username": name,
            "email": f"{name}@example.com",
            "password": PASSWORD,
        },
    )
    response.raise_for_status()
    data = response.json()
    return {
        "tenant_id": data["tenant"]["id"],
        "user_id": data["user"]["id"],
        "username": name,
        "token": data["tokens"]["access_token"],
    }
