"""Identity's part of the API fuzz: its endpoints are fuzzed with a valid token, not only 401s.

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


@schemathesis.auth(refresh_interval=60)
class IdentityToken:
    def get(self, case: schemathesis.Case, context: Any) -> str | None:
        if _IDENTITY_PATH not in (case.operation.base_url or ""):
            return None
        response = httpx.post(
            f"{_identity_base()}/auth/api-key-token",
            json={"api_key": _fuzz_api_key()},
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def set(self, case: schemathesis.Case, data: str | None, context: Any) -> None:
        if data is None or _IDENTITY_PATH not in (case.operation.base_url or ""):
            return
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
