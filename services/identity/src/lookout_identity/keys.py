"""Signing keys: Ed25519 key pairs, the private half encrypted at rest with AES-256-GCM.

The key-encryption key comes from settings (``signing_key_encryption_key``, base64url of 32
bytes); the key's ``kid`` is the associated data, so a ciphertext cannot be moved to another kid.
The newest key signs; a key that stops signing stays published in the JWKS until every token it
signed has expired (``published_until`` = retirement + access-token lifetime + leeway).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwt.algorithms import OKPAlgorithm

NONCE_BYTES = 12


def decode_key_encryption_key(value: str) -> bytes:
    padded = value + "=" * (-len(value) % 4)
    key = base64.urlsafe_b64decode(padded)
    if len(key) != 32:
        raise ValueError("the signing key encryption key must be 32 bytes (base64url)")
    return key


def encrypt_private_key(private_key: Ed25519PrivateKey, kid: str, kek: bytes) -> bytes:
    raw = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, raw, kid.encode())


def decrypt_private_key(blob: bytes, kid: str, kek: bytes) -> Ed25519PrivateKey:
    nonce, ciphertext = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
    raw = AESGCM(kek).decrypt(nonce, ciphertext, kid.encode())
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_jwk(private_key: Ed25519PrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(private_key.public_key()))
    jwk.update({"kid": kid, "alg": "EdDSA", "use": "sig"})
    return jwk


@dataclass(frozen=True)
class NewKey:
    kid: str
    private_key: Ed25519PrivateKey
    public_jwk: dict[str, Any]
    encrypted: bytes


def new_signing_key(kek: bytes) -> NewKey:
    # The kid carries its creation time only to make logs readable; it is not trusted for anything.
    kid = f"{int(time.time())}-{secrets.token_hex(6)}"
    private_key = Ed25519PrivateKey.generate()
    return NewKey(
        kid=kid,
        private_key=private_key,
        public_jwk=public_jwk(private_key, kid),
        encrypted=encrypt_private_key(private_key, kid, kek),
    )


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    private_key: Ed25519PrivateKey
    created_at: float
