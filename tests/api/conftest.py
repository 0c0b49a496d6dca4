"""Authenticated fuzzing: identity's, dashboard's and datasource's endpoints get a valid token, not
only 401s.

A tenant of the fuzz's own is signed up once through the gateway; its admin's API key is exchanged
for short-lived access tokens (an API-key token survives whatever the fuzzer does: logging out or
changing a password needs a session or the password). Other services' requests are left alone.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import schemathesis
from lookout_testing.servers import Servers

_IDENTITY_PATH = "/api/identity"
_api_key: dict[str, str] = {}


def _identity_base() -> str:
    return f"{Servers.from_environment().gateway}{_IDENTITY_PATH}"


def _fuzz_api_key() -> str:
    if "key" not in _api_key:
        name = f"fuzz{uuid.uuid4().hex[:10]}"
        signup = httpx.post(
            f"{_identity_base()}/signup",
            json={
                "tenant_name": name,
                "tenant_slug": name,
                "username": name,
                "email": f"{name}@example.com",
                "password": f"fuzz passphrase {uuid.uuid4().hex}",
            },
            timeout=30,
        )
        signup.raise_for_status()
        token = signup.json()["tokens"]["access_token"]
        created = httpx.post(
            f"{_identity_base()}/api-keys",
            json={"name": "fuzz"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        created.raise_for_status()
        _api_key["key"] = created.json()["key"]
    return _api_key["key"]


# Services whose endpoints the fuzz calls with a token of the fuzz tenant's admin.
_AUTHENTICATED = ("/api/identity", "/api/dashboard", "/api/datasource")


def _authenticated(case: schemathesis.Case) -> bool:
    base_url = case.operation.base_url or ""
    return any(base_url.endswith(prefix) for prefix in _AUTHENTICATED)


@schemathesis.auth(refresh_interval=60)
class FuzzToken:
    # Always fetch a token (the cached value is shared by every service's cases); ``set`` decides.
    def get(self, case: schemathesis.Case, context: Any) -> str | None:
        response = httpx.post(
            f"{_identity_base()}/auth/api-key-token",
            json={"api_key": _fuzz_api_key()},
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def set(self, case: schemathesis.Case, data: str | None, context: Any) -> None:
        if data is None or not _authenticated(case):
            return
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
