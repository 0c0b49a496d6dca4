"""What identity's use cases share at run time: settings, pool, password hasher, key ring, and the
verifier of its own tokens — one kit component (``create_service_app``'s ``components``), started
once the runtime's pool is up; handlers take it as ``ComponentsDep``."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends
from lookout_kit.app import Component, Runtime
from lookout_kit.auth.jwks import JwksCache
from lookout_kit.auth.verify import TokenVerifier
from lookout_kit.dependencies import component

from lookout_identity.keyring import DatabaseKeySource, KeyRing
from lookout_identity.open_limits import OpenLimits
from lookout_identity.passwords import Passwords
from lookout_identity.service.pruning import Pruning
from lookout_identity.settings import Settings


class Components:
    """Identity's parts. The pool and what needs it are bound at start (``bind``): before that
    only ``settings`` and ``passwords`` are there."""

    settings: Settings
    pool: asyncpg.Pool
    passwords: Passwords
    keyring: KeyRing
    verifier: TokenVerifier

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.passwords = Passwords(settings)

    def bind(self, pool: asyncpg.Pool) -> Components:
        """The parts that work on ``pool``: the key ring and the verifier of identity's tokens."""
        self.pool = pool
        self.keyring = KeyRing(self.settings, pool, self.settings.secret_box())
        self.verifier = TokenVerifier(
            JwksCache(DatabaseKeySource(self.keyring), min_refetch_interval_s=0.5),
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
        )
        return self

    @classmethod
    def build(cls, settings: Settings, pool: asyncpg.Pool) -> Components:
        """Identity's parts on ``pool`` outside the app (the admin commands)."""
        return cls(settings).bind(pool)

    async def start(self, runtime: Runtime) -> None:
        self.bind(runtime.require_pool())
        # A signing key exists before the first request (the first replica creates it).
        await self.keyring.active()

    async def stop(self) -> None:
        """Nothing to close: the pool is the runtime's."""


ComponentsDep = Annotated[Components, Depends(component(Components))]


def components(settings: Settings) -> list[Component]:
    return [
        Components(settings),
        OpenLimits(settings.open_rate_per_s, settings.open_burst),
        Pruning(settings),
    ]
