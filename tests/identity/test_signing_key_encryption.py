"""Identity's private signing keys at rest: sealed by the kit's secret box, bound to their row,
rotated to a new encryption key with ``lookout-secrets``, and keys sealed before the secret box
still working until the next rotation."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lookout_identity.app import create_app
from lookout_identity.keyring import KeyRing
from lookout_identity.keys import public_jwk
from lookout_identity.settings import LEGACY_KID, Settings
from lookout_kit.secret_box import SecretRefused, UnknownSecretKey
from lookout_testing.servers import Servers
from pydantic import SecretStr

from .conftest import Identity, identity_settings
from .factories import bearer, signup


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def box_settings(primary: str, **keys: str) -> dict[str, object]:
    return {
        "secret_keys": {kid: SecretStr(key) for kid, key in keys.items()},
        "secret_primary_kid": primary,
    }


@asynccontextmanager
async def running(settings: Settings, topic: str) -> AsyncIterator[Identity]:
    """Identity started with ``settings`` (a replica of its own), stopped after."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            yield Identity(app=app, client=client, settings=settings, topic=topic)


async def stored_keys(database: str) -> dict[str, bytes | None]:
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch("SELECT kid, private_key_encrypted FROM signing_keys")
    finally:
        await conn.close()
    return {row["kid"]: row["private_key_encrypted"] for row in rows}


async def me_status(identity: Identity, token: str) -> int:
    return (await identity.client.get("/me", headers=bearer(token))).status_code


async def reencrypt_with_the_command(database: str, primary: str, keys: dict[str, str]) -> str:
    """``lookout-secrets reencrypt identity …`` as an operator runs it, configured by environment."""
    command = Path(sys.executable).parent / "lookout-secrets"
    environment = {
        **os.environ,
        "LOOKOUT_IDENTITY_DATABASE_URL": database,
        "LOOKOUT_IDENTITY_SECRET_KEYS": json.dumps(keys),
        "LOOKOUT_IDENTITY_SECRET_PRIMARY_KID": primary,
    }
    process = await asyncio.create_subprocess_exec(
        str(command),
        "reencrypt",
        "identity",
        "--table",
        "signing_keys",
        "--column",
        "private_key_encrypted",
        "--id-column",
        "kid",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    for key in keys.values():
        assert key not in stdout.decode() + stderr.decode()
    return stdout.decode()


async def test_a_signing_key_is_sealed_by_the_box_and_bound_to_its_row(
    database: str, servers: Servers, topic: str
) -> None:
    settings = identity_settings(database, servers, topic, **box_settings("k1", k1=new_key()))
    async with running(settings, topic) as identity:
        active = await identity.components.keyring.active()
        sealed = (await stored_keys(database))[active.kid]
        assert sealed is not None and sealed.startswith(b"v1:k1:")
        raw = active.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        assert raw not in sealed and base64.urlsafe_b64encode(raw).rstrip(b"=") not in sealed
        # The same sealed value under another (newer) kid: refused, never used to sign.
        async with identity.components.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO signing_keys (kid, public_jwk, private_key_encrypted, created_at) "
                "VALUES ('copied', $1, $2, now() + interval '1 second')",
                public_jwk(active.private_key, "copied"),
                sealed,
            )
        fresh = KeyRing(settings, identity.components.pool, settings.secret_box())
        with pytest.raises(SecretRefused):
            await fresh.active()


async def test_rotating_the_encryption_key_keeps_signing_keys_and_tokens(
    database: str, servers: Servers, topic: str
) -> None:
    k1, k2 = new_key(), new_key()
    first = identity_settings(database, servers, topic, **box_settings("k1", k1=k1))
    async with running(first, topic) as identity:
        admin = await signup(identity.client)
        kid = jwt.get_unverified_header(admin.access_token)["kid"]
    assert (await stored_keys(database))[kid].startswith(b"v1:k1:")  # type: ignore[union-attr]

    # Step 1: the new key is primary, the old one still opens.
    both = identity_settings(database, servers, topic, **box_settings("k2", k1=k1, k2=k2))
    async with running(both, topic) as identity:
        assert await me_status(identity, admin.access_token) == 200
        assert (await identity.components.keyring.active()).kid == kid
    # Step 2: what is stored under the old key moves to the new one.
    report = await reencrypt_with_the_command(database, "k2", {"k1": k1, "k2": k2})
    assert "1 of 1" in report
    assert (await stored_keys(database))[kid].startswith(b"v1:k2:")  # type: ignore[union-attr]
    assert "0 of 1" in await reencrypt_with_the_command(database, "k2", {"k1": k1, "k2": k2})

    # Step 3: the old key is gone; the same signing key still signs and its tokens still hold.
    only_new = identity_settings(database, servers, topic, **box_settings("k2", k2=k2))
    async with running(only_new, topic) as identity:
        assert await me_status(identity, admin.access_token) == 200
        again = await identity.client.post(
            "/auth/login", json={"login": admin.username, "password": admin.password}
        )
        assert jwt.get_unverified_header(again.json()["access_token"])["kid"] == kid

    # Without the key the signing key is sealed under, identity refuses to start.
    only_old = identity_settings(database, servers, topic, **box_settings("k1", k1=k1))
    with pytest.raises(UnknownSecretKey):
        async with running(only_old, topic):
            pass


def seal_as_before_the_box(private_key: Ed25519PrivateKey, kid: str, key: str) -> bytes:
    """What identity stored before the secret box: nonce ‖ AES-256-GCM(raw key, aad=kid)."""
    raw = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    nonce = os.urandom(12)
    decoded = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    return nonce + AESGCM(decoded).encrypt(nonce, raw, kid.encode())


async def test_a_signing_key_sealed_before_the_box_signs_until_the_next_rotation(
    database: str, servers: Servers, topic: str
) -> None:
    legacy, k1 = new_key(), new_key()
    settings = identity_settings(
        database,
        servers,
        topic,
        signing_key_encryption_key=SecretStr(legacy),
        **box_settings("k1", k1=k1),
    )
    async with running(settings, topic):
        pass  # the schema exists
    old_key = Ed25519PrivateKey.generate()
    conn = await asyncpg.connect(database)
    try:
        await conn.execute("DELETE FROM signing_keys")
        await conn.execute(
            "INSERT INTO signing_keys (kid, public_jwk, private_key_encrypted) "
            "VALUES ('before-the-box', $1::jsonb, $2)",
            json.dumps(public_jwk(old_key, "before-the-box")),
            seal_as_before_the_box(old_key, "before-the-box", legacy),
        )
    finally:
        await conn.close()

    async with running(settings, topic) as identity:
        admin = await signup(identity.client)
        assert jwt.get_unverified_header(admin.access_token)["kid"] == "before-the-box"
        jwt.decode(  # signed by the very key that was stored
            admin.access_token,
            old_key.public_key(),
            algorithms=["EdDSA"],
            audience=settings.jwt_audience,
        )
        assert await me_status(identity, admin.access_token) == 200
        new_kid = await identity.components.keyring.rotate()
        stored = await stored_keys(database)
        assert stored["before-the-box"] is None  # retired: its private half is erased
        assert stored[new_kid] is not None and stored[new_kid].startswith(b"v1:k1:")
        assert await me_status(identity, admin.access_token) == 200

    # Opened with the wrong key of the old format: a clear refusal at startup.
    conn = await asyncpg.connect(database)
    try:
        await conn.execute("DELETE FROM signing_keys")
        await conn.execute(
            "INSERT INTO signing_keys (kid, public_jwk, private_key_encrypted) "
            "VALUES ('before-the-box', $1::jsonb, $2)",
            json.dumps(public_jwk(old_key, "before-the-box")),
            seal_as_before_the_box(old_key, "before-the-box", new_key()),
        )
    finally:
        await conn.close()
    with pytest.raises(SecretRefused, match="before the secret box"):
        async with running(settings, topic):
            pass


def test_settings_with_only_the_old_key_seal_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    legacy = new_key()
    monkeypatch.setenv("LOOKOUT_IDENTITY_SIGNING_KEY_ENCRYPTION_KEY", legacy)
    upgraded = Settings()
    assert upgraded.secret_primary_kid == LEGACY_KID
    assert upgraded.secret_keys[LEGACY_KID].get_secret_value() == legacy
    monkeypatch.setenv("LOOKOUT_IDENTITY_SECRET_KEYS", json.dumps({"k1": new_key()}))
    monkeypatch.setenv("LOOKOUT_IDENTITY_SECRET_PRIMARY_KID", "k1")
    assert Settings().secret_box().primary_kid == "k1"
    monkeypatch.setenv("LOOKOUT_IDENTITY_SIGNING_KEY_ENCRYPTION_KEY", legacy[:20])
    with pytest.raises(ValueError, match="signing_key_encryption_key"):
        Settings()
