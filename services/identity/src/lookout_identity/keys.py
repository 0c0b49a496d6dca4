"""Signing keys: Ed25519 key pairs whose private half is sealed at rest by the kit's secret box.

The sealed private key is the box's ASCII format (``v1:<kid of the box key>:…``) stored in the
``signing_keys.private_key_encrypted`` bytea column, with ``row_context("signing_keys",
"private_key_encrypted", <signing key kid>)`` as its context: a sealed key copied to another row is
refused, and ``lookout-secrets reencrypt identity --table signing_keys --column
private_key_encrypted --id-column kid`` re-seals the column after the box's key rotates.

Keys sealed before the secret box are exactly 60 bytes (nonce ‖ AES-256-GCM of the raw key ‖ tag,
under ``signing_key_encryption_key``, the signing key's kid as associated data); they still open
with that key and leave at the next rotation, which seals the new key with the box. (The box's
format is never 60 bytes long: its header and base64 alone are longer.)
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwt.algorithms import OKPAlgorithm
from lookout_kit.secret_box import SecretBox, SecretRefused, row_context

LEGACY_NONCE_BYTES = 12
LEGACY_SEALED_BYTES = LEGACY_NONCE_BYTES + 32 + 16


def private_key_context(kid: str) -> bytes:
    """What binds a sealed private key to its row."""
    return row_context("signing_keys", "private_key_encrypted", kid)


def seal_private_key(private_key: Ed25519PrivateKey, kid: str, box: SecretBox) -> bytes:
    raw = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return box.encrypt(raw, context=private_key_context(kid)).encode("ascii")


def open_private_key(
    sealed: bytes, kid: str, box: SecretBox, legacy_key: bytes
) -> Ed25519PrivateKey:
    """The private key of ``kid`` from its stored form, the box's or the one before it."""
    if len(sealed) == LEGACY_SEALED_BYTES:
        raw = _open_legacy(sealed, kid, legacy_key)
    else:
        raw = box.decrypt(sealed, context=private_key_context(kid))
    return Ed25519PrivateKey.from_private_bytes(raw)


def _open_legacy(sealed: bytes, kid: str, legacy_key: bytes) -> bytes:
    nonce, ciphertext = sealed[:LEGACY_NONCE_BYTES], sealed[LEGACY_NONCE_BYTES:]
    try:
        return AESGCM(legacy_key).decrypt(nonce, ciphertext, kid.encode())
    except InvalidTag:
        raise SecretRefused(
            f"signing key {kid!r}, sealed before the secret box, does not open with "
            "signing_key_encryption_key"
        ) from None


def public_jwk(private_key: Ed25519PrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(private_key.public_key()))
    jwk.update({"kid": kid, "alg": "EdDSA", "use": "sig"})
    return jwk


@dataclass(frozen=True)
class NewKey:
    kid: str
    private_key: Ed25519PrivateKey
    public_jwk: dict[str, Any]
    sealed: bytes


def new_signing_key(box: SecretBox) -> NewKey:
    # The kid carries its creation time only to make logs readable; it is not trusted for anything.
    kid = f"{int(time.time())}-{secrets.token_hex(6)}"
    private_key = Ed25519PrivateKey.generate()
    return NewKey(
        kid=kid,
        private_key=private_key,
        public_jwk=public_jwk(private_key, kid),
        sealed=seal_private_key(private_key, kid, box),
    )


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    private_key: Ed25519PrivateKey
    created_at: float
