"""The secret box: authenticated encryption (AES-256-GCM) of small secrets at rest, under named keys
that rotate.

A sealed secret is ASCII text, ``v1:<kid>:<base64url(nonce ‖ ciphertext ‖ tag)>`` (no padding):

- ``v1`` is the format: a 96-bit random nonce per secret and AES-256-GCM's 128-bit tag;
- ``kid`` names the key that sealed it (``[A-Za-z0-9_-]{1,64}``), so a box holding several keys
  knows which one opens it;
- the associated data is ``v1:<kid>:`` followed by the caller's *context*, the row and purpose the
  secret belongs to (``row_context(table, column, row_id)``): a ciphertext copied to another row,
  column or table, or relabelled with another kid, fails authentication like a tampered one.

A box holds one primary key, which seals, and any number of older keys, which only open. Rotating:
add a new key and make it primary (old secrets still open), re-seal what is stored under older keys
(``lookout-secrets reencrypt``, see ``lookout_kit.reencrypt``), then drop the old key.

A secret that cannot be opened raises a ``SecretBoxError`` (a ``DomainError``: the kit answers it as
a 500 with its code, never a stack trace); the message names the key id, never a key or plaintext.
Keys come from settings (``SecretBoxSettings``), validated when the settings load.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
from collections.abc import Mapping
from typing import Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lookout_kit.errors import DomainError

logger = logging.getLogger("lookout.secret_box")

VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
KID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

LOCAL_KID = "local"
# Only for a local stack (a warning is logged when it seals): production sets its own keys.
LOCAL_KEY = "bG9va291dC1sb2NhbC1zZWNyZXQtYm94LWtleS0zMiE"


class SecretBoxError(DomainError):
    """A stored secret cannot be opened. A server-side fault (the data or the keys), never the
    caller's: 500, with a code and a message that reveal nothing but the key id."""

    status_code = 500
    code = "secret_unreadable"


class MalformedSecret(SecretBoxError):
    code = "secret_malformed"


class UnknownSecretKey(SecretBoxError):
    code = "secret_key_unknown"


class SecretRefused(SecretBoxError):
    code = "secret_refused"


def row_context(table: str, column: str, row_id: object) -> bytes:
    """The associated data that binds a secret to one value of one row: ``table.column:row_id``."""
    return f"{table}.{column}:{row_id}".encode()


def decode_key(kid: str, value: str) -> bytes:
    """A key from its base64 text (standard or URL alphabet, padding optional); exactly 32 bytes.
    The error names the kid, never the value."""
    normalized = value.strip().replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(normalized + "=" * (-len(normalized) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"secret key {kid!r} is not base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"secret key {kid!r} must be {KEY_BYTES} bytes, not {len(key)}")
    return key


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _split(sealed: str | bytes) -> tuple[str, bytes]:
    """(kid, nonce ‖ ciphertext ‖ tag) of a sealed secret; ``MalformedSecret`` when it is not one."""
    try:
        text = sealed.decode("ascii") if isinstance(sealed, bytes) else sealed
        version, kid, payload = text.split(":", 2)
        if version != VERSION or not KID_PATTERN.match(kid):
            raise ValueError
        data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        if _b64encode(data) != payload or len(data) < NONCE_BYTES + TAG_BYTES:
            raise ValueError
    except (UnicodeDecodeError, ValueError, binascii.Error):
        raise MalformedSecret(f"a stored secret is not in the {VERSION} format") from None
    return kid, data


def _associated_data(kid: str, context: bytes) -> bytes:
    return f"{VERSION}:{kid}:".encode() + context


class SecretBox:
    """Seals with the primary key; opens with whichever key the secret names."""

    def __init__(self, keys: Mapping[str, bytes], primary_kid: str) -> None:
        if not keys:
            raise ValueError("a secret box needs at least one key")
        for kid, key in keys.items():
            if not KID_PATTERN.match(kid):
                raise ValueError(f"secret key id {kid!r} must match {KID_PATTERN.pattern}")
            if len(key) != KEY_BYTES:
                raise ValueError(f"secret key {kid!r} must be {KEY_BYTES} bytes, not {len(key)}")
        if primary_kid not in keys:
            raise ValueError(f"the primary key id {primary_kid!r} is not among the secret keys")
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        self._primary_kid = primary_kid

    def __repr__(self) -> str:
        return f"SecretBox(kids={sorted(self._ciphers)}, primary={self._primary_kid!r})"

    @property
    def primary_kid(self) -> str:
        return self._primary_kid

    def kid_of(self, sealed: str | bytes) -> str:
        """The id of the key that sealed ``sealed`` (without opening it)."""
        return _split(sealed)[0]

    def is_current(self, sealed: str | bytes) -> bool:
        """Whether ``sealed`` is under the primary key (nothing to re-seal)."""
        return self.kid_of(sealed) == self._primary_kid

    def encrypt(self, plaintext: bytes | str, *, context: bytes) -> str:
        """Seal ``plaintext`` for ``context`` under the primary key."""
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        kid = self._primary_kid
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._ciphers[kid].encrypt(nonce, data, _associated_data(kid, context))
        return f"{VERSION}:{kid}:{_b64encode(nonce + ciphertext)}"

    def decrypt(self, sealed: str | bytes, *, context: bytes) -> bytes:
        """Open ``sealed``, which must have been sealed for this same ``context``."""
        kid, data = _split(sealed)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            logger.warning("a secret names a key this service does not hold", extra={"kid": kid})
            raise UnknownSecretKey(f"a stored secret is under key {kid!r}, which is not configured")
        try:
            return cipher.decrypt(
                data[:NONCE_BYTES], data[NONCE_BYTES:], _associated_data(kid, context)
            )
        except InvalidTag:
            logger.warning("a secret failed authentication", extra={"kid": kid})
            raise SecretRefused(
                f"a stored secret under key {kid!r} failed authentication "
                "(altered, or copied from another row)"
            ) from None

    def decrypt_text(self, sealed: str | bytes, *, context: bytes) -> str:
        return self.decrypt(sealed, context=context).decode()

    def reencrypt(self, sealed: str | bytes, *, context: bytes) -> str:
        """``sealed`` under the primary key (sealed again with a fresh nonce even when it already
        was)."""
        return self.encrypt(self.decrypt(sealed, context=context), context=context)


class SecretBoxSettings(BaseSettings):
    """Knobs of a service that keeps secrets; mixed in before ``ServiceSettings``:
    ``class Settings(SecretBoxSettings, ServiceSettings)``, then ``settings.secret_box()``.

    ``<PREFIX>SECRET_KEYS='{"2026-11": "<base64 of 32 random bytes>", ...}'`` and
    ``<PREFIX>SECRET_PRIMARY_KID=2026-11``. A new key: ``python -c "import secrets, base64;
    print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"``.
    """

    # Never echo a rejected value: it may be a key.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    secret_keys: dict[str, SecretStr] = Field(
        default_factory=lambda: {LOCAL_KID: SecretStr(LOCAL_KEY)},
        description="Key id → base64 of a 32-byte AES key; every one opens, the primary seals",
    )
    secret_primary_kid: str = Field(
        default=LOCAL_KID, description="The id of the key that seals new secrets"
    )

    @model_validator(mode="after")
    def _keys_make_a_box(self) -> Self:
        self._box_from_settings()
        return self

    def _box_from_settings(self) -> SecretBox:
        keys = {
            kid: decode_key(kid, key.get_secret_value()) for kid, key in self.secret_keys.items()
        }
        return SecretBox(keys, self.secret_primary_kid)

    def secret_box(self) -> SecretBox:
        """The box these settings describe (validated when they loaded)."""
        box = self._box_from_settings()
        primary = self.secret_keys[self.secret_primary_kid].get_secret_value()
        if decode_key(box.primary_kid, primary) == decode_key(LOCAL_KID, LOCAL_KEY):
            logger.warning(
                "secrets are sealed with the local development key: set the service's "
                "SECRET_KEYS and SECRET_PRIMARY_KID in production"
            )
        return box
