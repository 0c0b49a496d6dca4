"""Verify identity's tokens locally: signature from the cached JWKS, issuer, audience, expiry,
claims, then the revocation cache. Every failure is the same 401 to the client (the reason is
logged at debug level only, never the token)."""

from __future__ import annotations

import logging
import time
from typing import Any
from uuid import UUID

import jwt

from lookout_kit.auth.caller import Caller, Permission, ServiceCaller
from lookout_kit.auth.jwks import ALGORITHM, JwksCache
from lookout_kit.auth.revocation import RevocationCache
from lookout_kit.errors import Unauthorized

logger = logging.getLogger("lookout.auth.verify")

MAX_TOKEN_LENGTH = 16_384
"""A token longer than this is refused before any parsing (a role has at most a few hundred
permissions)."""

VERIFIED_CACHE_SIZE = 10_000

ACCESS = "access"
SERVICE = "service"


class TokenVerifier:
    """Turns a bearer token into a ``Caller`` (or ``ServiceCaller``) or raises ``Unauthorized``."""

    def __init__(
        self,
        jwks: JwksCache,
        *,
        issuer: str,
        audience: str,
        revocations: RevocationCache | None = None,
        leeway_s: float = 5.0,
    ) -> None:
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audience
        self.revocations = revocations
        self.leeway_s = leeway_s
        self._verified: dict[tuple[str, str], dict[str, Any]] = {}

    async def claims(self, token: str, *, token_use: str) -> dict[str, Any]:
        """The verified claims of ``token``, which must be a ``token_use`` token.

        A token verified once is remembered until it expires: a client sends the same token on
        every request, and the signature check is the larger part of a request's cost. Revocation
        is checked by the caller on every request all the same."""
        cached = self._verified.get((token, token_use))
        if cached is not None:
            if cached["exp"] > time.time():
                return cached
            del self._verified[(token, token_use)]
        claims = await self._verify(token, token_use=token_use)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()  # crude but bounded; refilled at one verification per token
        self._verified[(token, token_use)] = claims
        return claims

    def forget_verified(self) -> None:
        """Drop the remembered verifications (the next check of each token is a full one)."""
        self._verified.clear()

    async def _verify(self, token: str, *, token_use: str) -> dict[str, Any]:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise _refused("malformed")
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError, TypeError):
            raise _refused("malformed") from None
        kid = header.get("kid")
        if not isinstance(kid, str) or header.get("alg") != ALGORITHM:
            raise _refused("unexpected header")
        key = await self.jwks.key(kid)
        if key is None:
            raise _refused("unknown kid")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as error:
            raise _refused(type(error).__name__) from None
        if claims.get("token_use") != token_use:
            raise _refused("wrong token use")
        return claims

    async def verify_access(self, token: str) -> Caller:
        caller = caller_from_claims(await self.claims(token, token_use=ACCESS))
        if self.revocations is not None and self.revocations.is_revoked(caller):
            raise _refused("revoked")
        return caller

    async def verify_service(self, token: str) -> ServiceCaller:
        claims = await self.claims(token, token_use=SERVICE)
        subject = str(claims["sub"])
        if not subject.startswith("service:"):
            raise _refused("bad claims")
        try:
            tenant = claims.get("tenant")
            caller = ServiceCaller(
                service=subject.removeprefix("service:"),
                issued_at=float(claims["iat"]),
                expires_at=float(claims["exp"]),
                tenant_id=None if tenant is None else UUID(str(tenant)),
            )
        except (KeyError, TypeError, ValueError):
            raise _refused("bad claims") from None
        if self.revocations is not None and self.revocations.is_service_revoked(caller):
            raise _refused("revoked")
        return caller


def caller_from_claims(claims: dict[str, Any]) -> Caller:
    """The caller an access token's verified claims describe (401 when they are malformed)."""
    try:
        return Caller(
            tenant_id=UUID(str(claims["tenant"])),
            user_id=UUID(str(claims["sub"])),
            role_id=UUID(str(claims["role"])),
            session_id=str(claims["sid"]),
            permissions=tuple(Permission.from_claim(entry) for entry in claims["perms"]),
            issued_at=float(claims["iat"]),
            expires_at=float(claims["exp"]),
        )
    except (KeyError, TypeError, ValueError):
        # ValueError covers pydantic's ValidationError of a permission's conditions.
        raise _refused("bad claims") from None


def _refused(reason: str) -> Unauthorized:
    logger.debug("token refused", extra={"reason": reason})
    return Unauthorized("invalid or expired token", code="invalid_token")
