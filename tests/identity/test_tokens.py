"""Access tokens: claims, tampering, expiry, unknown kid, other tenant, key rotation, JWKS,
API keys and service tokens."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lookout_identity.keyring import RETIRED_KEY_LEEWAY_S
from lookout_kit.auth.dependencies import Authenticator
from lookout_kit.errors import Unauthorized

from .conftest import Identity
from .factories import Account, bearer, signup


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


async def _sign(identity: Identity, claims: dict[str, Any], *, kid: str | None = None) -> str:
    key = await identity.components.keyring.active()
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": kid or key.kid})


async def _me(identity: Identity, token: str) -> int:
    return (await identity.client.get("/me", headers=bearer(token))).status_code


async def test_access_token_claims(identity: Identity) -> None:
    admin = await signup(identity.client)
    header = jwt.get_unverified_header(admin.access_token)
    claims = _claims(admin.access_token)
    assert header["alg"] == "EdDSA" and header["kid"]
    assert claims["iss"] == identity.settings.jwt_issuer
    assert claims["aud"] == identity.settings.jwt_audience
    assert claims["sub"] == admin.user_id
    assert claims["tenant"] == admin.tenant_id
    assert claims["sid"] == admin.session_id
    assert claims["exp"] - claims["iat"] <= identity.settings.access_token_ttl_s
    assert {"resource": "dashboard", "action": "admin"} in claims["perms"]
    jwks = (await identity.client.get("/.well-known/jwks.json")).json()
    assert header["kid"] in [key["kid"] for key in jwks["keys"]]
    assert all("d" not in key for key in jwks["keys"])  # never the private half


async def test_tampered_expired_wrong_kid_and_garbage_tokens_are_refused(
    identity: Identity,
) -> None:
    admin = await signup(identity.client)
    claims = _claims(admin.access_token)
    head, payload, signature = admin.access_token.split(".")
    forged = dict(claims, perms=[{"resource": "tenant", "action": "admin"}], role=claims["role"])
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    assert await _me(identity, f"{head}.{forged_payload}.{signature}") == 401
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert await _me(identity, f"{head}.{payload}.{flipped}") == 401
    expired = dict(claims, exp=int(time.time()) - 600)  # its iat kept: refused for exp alone
    assert await _me(identity, await _sign(identity, expired)) == 401
    stranger = Ed25519PrivateKey.generate()
    unknown_kid = jwt.encode(claims, stranger, algorithm="EdDSA", headers={"kid": "no-such-kid"})
    assert await _me(identity, unknown_kid) == 401
    key = await identity.components.keyring.active()
    wrong_key_known_kid = jwt.encode(claims, stranger, algorithm="EdDSA", headers={"kid": key.kid})
    assert await _me(identity, wrong_key_known_kid) == 401
    assert await _me(identity, await _sign(identity, dict(claims, aud="someone-else"))) == 401
    assert await _me(identity, await _sign(identity, dict(claims, iss="someone-else"))) == 401
    hs256 = jwt.encode(claims, "s" * 32, algorithm="HS256", headers={"kid": key.kid})
    assert await _me(identity, hs256) == 401
    for garbage in ["", "x", "a.b.c", "Bearer", "é" * 10]:
        header = f"Bearer {garbage}".encode("latin-1")
        response = await identity.client.get("/me", headers={"Authorization": header})
        assert response.status_code in (401, 403)
    assert (await identity.client.get("/me")).status_code == 401
    assert await _me(identity, admin.access_token) == 200


async def test_a_token_naming_another_tenant_is_refused(identity: Identity) -> None:
    tenant_a = await signup(identity.client)
    tenant_b = await signup(identity.client)
    claims = _claims(tenant_a.access_token)
    # Correctly signed, but the session and user belong to A while the claim says B.
    other_tenant = dict(claims, tenant=tenant_b.tenant_id)
    assert await _me(identity, await _sign(identity, other_tenant)) == 401
    mixed = dict(claims, sid=tenant_b.session_id)
    assert await _me(identity, await _sign(identity, mixed)) == 401


def _a_service_verifier(identity: Identity) -> Authenticator:
    """What another service builds at start: a fresh JWKS cache, through identity's JWKS."""
    return Authenticator.from_jwks_url(
        "http://identity/.well-known/jwks.json",
        issuer=identity.settings.jwt_issuer,
        audience=identity.settings.jwt_audience,
        client=identity.client,
    )


async def test_key_rotation_keeps_old_tokens_until_they_expire(identity: Identity) -> None:
    """After a rotation the old key no longer signs, but stays published as long as a token it
    signed can live (the access token TTL plus a leeway): its tokens work until their ``exp``, not
    after; once that window has passed the key leaves the JWKS and its tokens are refused."""
    admin = await signup(identity.client)
    old = await identity.components.keyring.active()
    assert jwt.get_unverified_header(admin.access_token)["kid"] == old.kid
    new_kid = await identity.components.keyring.rotate()
    assert new_kid != old.kid
    kids = [
        key["kid"] for key in (await identity.client.get("/.well-known/jwks.json")).json()["keys"]
    ]
    assert old.kid in kids and new_kid in kids
    assert await _me(identity, admin.access_token) == 200
    pair = (
        await identity.client.post("/auth/refresh", json={"refresh_token": admin.refresh_token})
    ).json()
    assert jwt.get_unverified_header(pair["access_token"])["kid"] == new_kid
    assert await _me(identity, pair["access_token"]) == 200

    # The old key's tokens: valid until their exp, refused after it.
    claims = _claims(admin.access_token)
    now = int(time.time())
    # Its own iat: an iat before the user's permissions last changed is refused for that reason.
    expired = dict(claims, exp=now - 60)
    signed_by_old = jwt.encode(
        expired, old.private_key, algorithm="EdDSA", headers={"kid": old.kid}
    )
    assert await _me(identity, signed_by_old) == 401
    still_valid = jwt.encode(
        dict(claims, exp=now + 60), old.private_key, algorithm="EdDSA", headers={"kid": old.kid}
    )
    assert await _me(identity, still_valid) == 200

    # Retired: the private half is gone, and it is published exactly as long as a token can live.
    async with identity.components.pool.acquire() as conn:
        retired = await conn.fetchrow(
            "SELECT private_key_encrypted, retired_at, published_until FROM signing_keys "
            "WHERE kid = $1",
            old.kid,
        )
        assert retired["private_key_encrypted"] is None
        published_for = (retired["published_until"] - retired["retired_at"]).total_seconds()
        assert published_for == identity.settings.access_token_ttl_s + RETIRED_KEY_LEEWAY_S
        assert published_for >= identity.settings.access_token_ttl_s
        # That window passes (moved back rather than waited for): the key leaves the JWKS.
        await conn.execute(
            "UPDATE signing_keys SET published_until = now() - interval '1 second' WHERE kid = $1",
            old.kid,
        )
    kids = [
        key["kid"] for key in (await identity.client.get("/.well-known/jwks.json")).json()["keys"]
    ]
    assert old.kid not in kids and new_kid in kids
    with pytest.raises(Unauthorized):
        await _a_service_verifier(identity).verifier.verify_access(still_valid)
    assert await _a_service_verifier(identity).verifier.verify_access(pair["access_token"])


async def _api_key(identity: Identity, admin: Account) -> dict[str, Any]:
    response = await identity.client.post(
        "/api-keys", json={"name": "ci", "expires_in_days": 30}, headers=admin.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_api_keys_shown_once_exchanged_and_revoked(identity: Identity) -> None:
    admin = await signup(identity.client)
    created = await _api_key(identity, admin)
    assert created["key"].startswith(created["prefix"])
    listed = (await identity.client.get("/api-keys", headers=admin.headers)).json()
    assert [key["id"] for key in listed] == [created["id"]]
    assert "key" not in listed[0] and created["key"] not in json.dumps(listed)
    exchange = await identity.client.post("/auth/api-key-token", json={"api_key": created["key"]})
    assert exchange.status_code == 200, exchange.text
    token = exchange.json()["access_token"]
    assert exchange.json()["refresh_token"] is None
    assert await _me(identity, token) == 200
    revoked = await identity.client.delete(f"/api-keys/{created['id']}", headers=admin.headers)
    assert revoked.status_code == 204
    assert await _me(identity, token) == 401
    again = await identity.client.post("/auth/api-key-token", json={"api_key": created["key"]})
    assert again.status_code == 401
    assert (
        await identity.client.post("/auth/api-key-token", json={"api_key": "lak_x"})
    ).status_code == 401
    other = await signup(identity.client)
    missing = await identity.client.delete(f"/api-keys/{created['id']}", headers=other.headers)
    assert missing.status_code == 404


async def test_service_tokens(identity: Identity) -> None:
    response = await identity.client.post(
        "/auth/service-token", json={"service": "alert", "secret": "alert-secret-for-tests"}
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    service = await _a_service_verifier(identity).verifier.verify_service(token)
    assert service.service == "alert"
    # A service token is not a user's access token, anywhere.
    assert await _me(identity, token) == 401
    for body in [
        {"service": "alert", "secret": "wrong"},
        {"service": "nobody", "secret": "alert-secret-for-tests"},
    ]:
        assert (await identity.client.post("/auth/service-token", json=body)).status_code == 401
