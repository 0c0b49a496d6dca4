"""The signing-key ring: which key signs now, rotation between replicas, and the published JWKS."""

from __future__ import annotations

import logging
import time
from typing import Any

import asyncpg
from lookout_kit.secret_box import SecretBox, decode_key

from lookout_identity import repository
from lookout_identity.keys import ActiveKey, new_signing_key, open_private_key
from lookout_identity.settings import Settings

logger = logging.getLogger("lookout.identity.keys")

# How long a replica trusts its idea of the active key before asking the database again (another
# replica may have rotated; its old key stays published, so a short lag is harmless).
ACTIVE_KEY_CACHE_S = 30.0
RETIRED_KEY_LEEWAY_S = 60.0


class KeyRing:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, box: SecretBox) -> None:
        self._settings = settings
        self._pool = pool
        self._box = box
        # Opens only keys sealed before the secret box (see keys.py).
        self._legacy_key = decode_key(
            "signing_key_encryption_key", settings.signing_key_encryption_key.get_secret_value()
        )
        self._active: ActiveKey | None = None
        self._checked_at = float("-inf")

    async def active(self) -> ActiveKey:
        """The key that signs now (rotating first when it is older than the rotation age)."""
        now = time.monotonic()
        if self._active is None or now - self._checked_at > ACTIVE_KEY_CACHE_S:
            self._active = await self._load_or_rotate(force=False)
            self._checked_at = now
        return self._active

    async def rotate(self) -> str:
        """Make a new key the signing key now; returns its kid."""
        self._active = await self._load_or_rotate(force=True)
        self._checked_at = time.monotonic()
        return self._active.kid

    async def _load_or_rotate(self, *, force: bool) -> ActiveKey:
        async with self._pool.acquire() as conn, conn.transaction():
            await repository.signing_keys.lock_signing_keys(conn)
            row = await repository.signing_keys.newest_signing_key(conn)
            too_old = (
                row is None
                or time.time() - row["created_at"].timestamp()
                > self._settings.signing_key_rotation_s
            )
            if force or too_old:
                key = new_signing_key(self._box)
                row = await repository.signing_keys.insert_signing_key(
                    conn, key.kid, key.public_jwk, key.sealed
                )
                await repository.signing_keys.retire_signing_keys(
                    conn,
                    keep=key.kid,
                    published_for_s=self._settings.access_token_ttl_s + RETIRED_KEY_LEEWAY_S,
                )
                logger.info("signing key rotated", extra={"kid": key.kid})
            assert row is not None
            return ActiveKey(
                kid=row["kid"],
                private_key=open_private_key(
                    row["private_key_encrypted"], row["kid"], self._box, self._legacy_key
                ),
                created_at=row["created_at"].timestamp(),
            )

    async def jwks(self) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            rows = await repository.signing_keys.published_keys(conn)
        return {"keys": [dict(row["public_jwk"]) for row in rows]}


class DatabaseKeySource:
    """The kit's ``KeySource`` for identity itself: its own published keys, without HTTP."""

    def __init__(self, keyring: KeyRing) -> None:
        self._keyring = keyring

    async def fetch(self) -> dict[str, Any]:
        return await self._keyring.jwks()
