"""What identity's use cases share at run time: settings, pool, password hasher, key ring, and the
verifier of its own tokens. Built at startup (``app.state.identity``); handlers take it as
``ComponentsDep``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from lookout_kit.auth.jwks import JwksCache
from lookout_kit.auth.verify import TokenVerifier

from lookout_identity.keyring import DatabaseKeySource, KeyRing
from lookout_identity.passwords import Passwords
from lookout_identity.settings import Settings


@dataclass
class Components:
    settings: Settings
    pool: asyncpg.Pool
    passwords: Passwords
    keyring: KeyRing
    verifier: TokenVerifier

    @classmethod
    def build(cls, settings: Settings, pool: asyncpg.Pool) -> Components:
        keyring = KeyRing(settings, pool, settings.secret_box())
        verifier = TokenVerifier(
            JwksCache(DatabaseKeySource(keyring), min_refetch_interval_s=0.5),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
        return cls(
            settings=settings,
            pool=pool,
            passwords=Passwords(settings),
            keyring=keyring,
            verifier=verifier,
        )


async def components_of(request: Request) -> Components:
    """Identity's parts, set by its startup hook. ``async`` so that FastAPI does not run this
    attribute read in its thread pool."""
    components: Components = request.app.state.identity
    return components


ComponentsDep = Annotated[Components, Depends(components_of)]
