"""Access tokens as identity signs them, from a signing key of the test's own: a service under test
verifies them through the kit's ``KeySource`` protocol (``SigningKeys.fetch``), no identity needed."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

ISSUER = "lookout-identity"
AUDIENCE = "lookout"


@dataclass
class Actor:
    """A user of a tenant with a role's permissions, as identity would put them in a token."""

    tenant_id: uuid.UUID
    permissions: list[dict[str, Any]] = field(default_factory=list)
    role_id: uuid.UUID = field(default_factory=uuid.uuid4)
    user_id: uuid.UUID = field(default_factory=uuid.uuid4)
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)


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

    def service_token(self, service: str, tenant_id: uuid.UUID | None, *, ttl_s: int = 600) -> str:
        """A service token as identity issues it (``POST /auth/service-token``)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": f"service:{service}",
            "iat": now,
            "exp": now + ttl_s,
            "token_use": "service",
        }
        if tenant_id is not None:
            claims["tenant"] = str(tenant_id)
        return jwt.encode(claims, self.private_key, algorithm="EdDSA", headers={"kid": self.kid})
