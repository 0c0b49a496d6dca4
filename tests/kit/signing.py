"""Test support for the kit's auth wiring: a signing key of the test's own, its JWKS served over real
HTTP (as identity serves it), and tokens signed with it."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

ISSUER = "lookout-identity"
AUDIENCE = "lookout"


@dataclass
class Actor:
    """A user of a tenant, as identity would describe it in an access token."""

    tenant_id: uuid.UUID = field(default_factory=uuid.uuid4)
    user_id: uuid.UUID = field(default_factory=uuid.uuid4)
    role_id: uuid.UUID = field(default_factory=uuid.uuid4)
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class SigningKey:
    """An Ed25519 key with a kid; signs access and service tokens the way identity does."""

    def __init__(self) -> None:
        self.private_key = Ed25519PrivateKey.generate()
        self.kid = uuid.uuid4().hex

    def jwks(self) -> dict[str, Any]:
        public = OKPAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "alg": "EdDSA", "use": "sig"}]}

    def _sign(self, claims: dict[str, Any], ttl_s: int) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + ttl_s, **claims}
        return jwt.encode(claims, self.private_key, algorithm="EdDSA", headers={"kid": self.kid})

    def access_token(self, actor: Actor, *, ttl_s: int = 600) -> str:
        return self._sign(
            {
                "sub": str(actor.user_id),
                "tenant": str(actor.tenant_id),
                "role": str(actor.role_id),
                "sid": actor.session_id,
                "perms": [{"resource": "dashboard", "action": "read"}],
                "token_use": "access",
            },
            ttl_s,
        )

    def service_token(self, service: str, *, ttl_s: int = 300) -> str:
        return self._sign({"sub": f"service:{service}", "token_use": "service"}, ttl_s)


@asynccontextmanager
async def served_jwks(key: SigningKey) -> AsyncIterator[str]:
    """Serve ``key``'s JWKS on a free local port and yield its URL: the kit fetches it over HTTP
    as it fetches identity's."""

    async def jwks(_request: web.Request) -> web.Response:
        return web.json_response(key.jwks())

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}/.well-known/jwks.json"
    finally:
        await runner.cleanup()
