"""Settings of the identity service: every knob, from ``LOOKOUT_IDENTITY_*`` environment variables."""

from __future__ import annotations

from typing import Any

from lookout_kit.secret_box import SecretBoxSettings, decode_key
from lookout_kit.settings import ServiceSettings
from pydantic import Field, PostgresDsn, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

# The key that sealed signing keys before the secret box; its local value is the default.
LOCAL_SIGNING_KEY_ENCRYPTION_KEY = "bG9va291dC1sb2NhbC1vbmx5LWtleS0zMi1ieXRlcyE"
# The secret box's key id for that key when it is the only key configured (see the validator).
LEGACY_KID = "legacy"


class Settings(SecretBoxSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKOUT_IDENTITY_", extra="ignore", frozen=True)

    service_name: str = "identity"
    port: int = 8101
    root_path: str = "/api/identity"
    database_url: PostgresDsn | None = PostgresDsn(
        "postgresql://postgres@127.0.0.1:5432/lookout_identity"
    )
    events_topic: str | None = Field(
        default=None, description="Topic of identity's events (None: identity.events); for tests"
    )

    # Tokens
    jwt_issuer: str = "lookout-identity"
    jwt_audience: str = "lookout"
    access_token_ttl_s: int = Field(default=900, ge=30, le=3_600)
    refresh_token_ttl_s: int = Field(default=14 * 86_400, ge=60)
    session_max_age_s: int = Field(default=30 * 86_400, ge=60)
    service_token_ttl_s: int = Field(default=300, ge=30, le=3_600)
    signing_key_rotation_s: int = Field(
        default=7 * 86_400, ge=60, description="Age at which a new signing key takes over"
    )
    signing_key_encryption_key: SecretStr = Field(
        default=SecretStr(LOCAL_SIGNING_KEY_ENCRYPTION_KEY),
        description="Legacy: base64url of the 32-byte AES-256-GCM key that sealed private signing "
        "keys before the secret box (SECRET_KEYS); still opens them until the next rotation",
    )
    service_clients: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Services allowed to obtain service tokens: {"alert": "<secret>"}',
    )

    # Passwords: argon2id, RFC 9106's second recommended option (64 MiB, t=3, p=4).
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65_536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    # Bounds on hashing: its memory is at most argon2_concurrency * argon2_memory_cost_kib; a
    # request beyond the queue is answered 503 busy with Retry-After.
    argon2_concurrency: int = Field(default=4, ge=1)
    argon2_queue: int = Field(default=16, ge=0)

    # Requests per client address to the open endpoints (sign-up, login, refresh, machine tokens),
    # per replica: sustained rate and burst; beyond, 429 rate_limited with Retry-After.
    open_rate_per_s: float = Field(default=20.0, gt=0)
    open_burst: int = Field(default=200, ge=1)
    password_min_length: int = Field(default=12, ge=8)

    # Failed-login throttling: after `threshold` failures within `window`, lock for a backoff
    # that doubles with each further failure, up to `max_lock`.
    throttle_window_s: int = Field(default=900, ge=1)
    throttle_account_threshold: int = Field(default=5, ge=1)
    throttle_address_threshold: int = Field(default=20, ge=1)
    throttle_base_lock_s: int = Field(default=30, ge=1)
    throttle_max_lock_s: int = Field(default=900, ge=1)

    # Pruning (service/pruning.py): one replica per interval deletes sessions ended (expired or
    # revoked) longer ago than the retention, with their refresh tokens, refresh tokens expired as
    # long, and throttle rows whose window and lock are over. The retention outlasts any access
    # token (at most an hour): a token never outlives the row that decides it.
    prune_interval_s: float = Field(default=3_600.0, ge=1, le=7 * 86_400)
    ended_session_retention_s: int = Field(default=7 * 86_400, ge=3_600)

    @field_validator("signing_key_encryption_key")
    @classmethod
    def _a_32_byte_key(cls, value: SecretStr) -> SecretStr:
        decode_key("signing_key_encryption_key", value.get_secret_value())
        return value

    @model_validator(mode="before")
    @classmethod
    def _box_defaults_to_the_signing_key_encryption_key(cls, values: Any) -> Any:
        # An install that set only the key of the format before the secret box keeps sealing
        # with its own key (under kid "legacy") after an upgrade, instead of the local default.
        if (
            isinstance(values, dict)
            and not values.get("secret_keys")
            and values.get("signing_key_encryption_key")
        ):
            values = {
                **values,
                "secret_keys": {LEGACY_KID: values["signing_key_encryption_key"]},
                "secret_primary_kid": values.get("secret_primary_kid") or LEGACY_KID,
            }
        return values
