"""Settings of the identity service: every knob, from ``LOOKOUT_IDENTITY_*`` environment variables."""

from __future__ import annotations

from lookout_kit.settings import ServiceSettings
from pydantic import Field, PostgresDsn, SecretStr
from pydantic_settings import SettingsConfigDict

# Only for a local stack: production sets LOOKOUT_IDENTITY_SIGNING_KEY_ENCRYPTION_KEY (the service
# logs a warning at startup when it runs with this one).
LOCAL_SIGNING_KEY_ENCRYPTION_KEY = "bG9va291dC1sb2NhbC1vbmx5LWtleS0zMi1ieXRlcyE"


class Settings(ServiceSettings):
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
        description="base64url of 32 bytes: the AES-256-GCM key of the private signing keys",
    )
    service_clients: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Services allowed to obtain service tokens: {"alert": "<secret>"}',
    )

    # Passwords: argon2id, RFC 9106's second recommended option (64 MiB, t=3, p=4).
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65_536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    password_min_length: int = Field(default=12, ge=8)

    # Failed-login throttling: after `threshold` failures within `window`, lock for a backoff
    # that doubles with each further failure, up to `max_lock`.
    throttle_window_s: int = Field(default=900, ge=1)
    throttle_account_threshold: int = Field(default=5, ge=1)
    throttle_address_threshold: int = Field(default=20, ge=1)
    throttle_base_lock_s: int = Field(default=30, ge=1)
    throttle_max_lock_s: int = Field(default=900, ge=1)
