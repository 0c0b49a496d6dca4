"""SQL of ``signing_keys`` (not tenant data): the newest key, rotation under a lock, the JWKS."""

from __future__ import annotations

from typing import Any

import asyncpg


async def lock_signing_keys(conn: asyncpg.Connection) -> None:
    """Serialise key rotation between replicas (transaction-scoped advisory lock)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('lookout_identity.signing_keys'))")


async def newest_signing_key(conn: asyncpg.Connection) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT kid, private_key_encrypted, created_at FROM signing_keys "
        "WHERE retired_at IS NULL AND private_key_encrypted IS NOT NULL "
        "ORDER BY created_at DESC LIMIT 1"
    )
    return row


async def insert_signing_key(
    conn: asyncpg.Connection, kid: str, public_jwk: dict[str, Any], sealed: bytes
) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO signing_keys (kid, public_jwk, private_key_encrypted) VALUES ($1, $2, $3) "
        "RETURNING kid, private_key_encrypted, created_at",
        kid,
        public_jwk,
        sealed,
    )
    return row


async def retire_signing_keys(conn: asyncpg.Connection, keep: str, published_for_s: float) -> None:
    """Stop signing with every key but ``keep``; publish them ``published_for_s`` longer, and
    drop the private half (it will never sign again)."""
    await conn.execute(
        "UPDATE signing_keys SET retired_at = now(), private_key_encrypted = NULL, "
        "published_until = now() + make_interval(secs => $2) "
        "WHERE kid <> $1 AND retired_at IS NULL",
        keep,
        published_for_s,
    )


async def published_keys(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT public_jwk FROM signing_keys "
        "WHERE published_until IS NULL OR published_until > now() ORDER BY created_at DESC"
    )
    return rows
