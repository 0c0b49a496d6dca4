"""Issuing tokens: signed access and service JWTs, opaque refresh tokens and API keys.

Refresh tokens and API keys carry 256 random bits and are stored as their SHA-256: a slow hash adds
nothing against guessing at that entropy, and a fast one keeps look-ups cheap.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

import jwt

from lookout_identity.keys import ActiveKey
from lookout_identity.settings import Settings

REFRESH_PREFIX = "lrt_"
API_KEY_PREFIX = "lak_"


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def permission_claims(permissions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ``perms`` claim: a role's permission rows as ``{resource, action, conditions?}``."""
    claims: list[dict[str, Any]] = []
    for permission in permissions:
        claim: dict[str, Any] = {"resource": permission["resource"], "action": permission["action"]}
        if permission["conditions"] is not None:
            claim["conditions"] = permission["conditions"]
        claims.append(claim)
    return claims


def issue_access_token(
    key: ActiveKey,
    settings: Settings,
    *,
    user_id: UUID,
    tenant_id: UUID,
    role_id: UUID,
    session_id: str,
    permissions: list[dict[str, Any]],
    via: str,
) -> str:
    now = time.time()
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user_id),
        "tenant": str(tenant_id),
        "role": str(role_id),
        "sid": session_id,
        "perms": permissions,
        "token_use": "access",
        "via": via,
        # Fractional: revocations compare against event times with millisecond precision.
        "iat": round(now, 3),
        "exp": int(now) + settings.access_token_ttl_s,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


def issue_service_token(
    key: ActiveKey, settings: Settings, service: str, tenant_id: UUID | None = None
) -> str:
    """A service token; with ``tenant_id`` it acts on behalf of that tenant (claim ``tenant``)."""
    now = time.time()
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": f"service:{service}",
        "token_use": "service",
        "iat": round(now, 3),
        "exp": int(now) + settings.service_token_ttl_s,
        "jti": uuid.uuid4().hex,
    }
    if tenant_id is not None:
        claims["tenant"] = str(tenant_id)
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


def new_refresh_token() -> tuple[str, bytes]:
    token = REFRESH_PREFIX + secrets.token_urlsafe(32)
    return token, hash_secret(token)


def new_api_key() -> tuple[str, str, bytes]:
    """(the key, its displayable prefix, its hash)."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key[:12], hash_secret(key)
