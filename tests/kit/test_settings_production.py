"""Settings that fail closed: ``LOOKOUT_ENV=production`` refuses every local default at start (a
secret left at its committed value or unset, an address on loopback), naming the variable; local,
the default, takes them all."""

from __future__ import annotations

import base64
import importlib
import json
import os
import secrets
from typing import Any

import pytest
from lookout_identity.settings import LOCAL_SIGNING_KEY_ENCRYPTION_KEY
from lookout_identity.settings import Settings as IdentitySettings
from lookout_kit.secret_box import LOCAL_KEY, SecretBoxSettings
from lookout_kit.settings import (
    AuthSettings,
    ServiceClientSettings,
    ServiceSettings,
    hosts_of,
    is_loopback,
)
from pydantic import AnyHttpUrl, SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

PREFIX = "LOOKOUT_TEST_PROD_"


class KnobSettings(SecretBoxSettings, AuthSettings, ServiceClientSettings, ServiceSettings):
    """Every mixin of the kit, plus addresses of a service's own (checked by their names)."""

    model_config = SettingsConfigDict(env_prefix=PREFIX)

    service_name: str = "test-prod"
    datasource_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8080/api/datasource")
    smtp_host: str = "127.0.0.1"
    # Not an address by its name: a list of what to refuse may well name loopback.
    refused_servers: tuple[str, ...] = ("127.0.0.1:5432",)


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def production_values() -> dict[str, Any]:
    """What an operator sets: every address a service name, every secret its own."""
    return {
        "env": "production",
        "database_url": "postgresql://lookout_test:pw@postgres:5432/lookout_test",
        "kafka_bootstrap_servers": "kafka-0.kafka:9092,kafka-1.kafka:9092",
        "clickhouse_url": "http://clickhouse:8123",
        "otel_exporter_otlp_endpoint": "http://otel-collector:4318",
        "forwarded_allow_ips": "172.30.0.10",
        "identity_jwks_url": "http://identity:8101/.well-known/jwks.json",
        "identity_url": "http://identity:8101",
        "service_secret": secrets.token_urlsafe(32),
        "secret_keys": {"2026-12": new_key()},
        "secret_primary_kid": "2026-12",
        "datasource_url": "http://datasource:8103",
        "smtp_host": "smtp.example.com",
    }


@pytest.fixture(autouse=True)
def no_lookout_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LOOKOUT_"):
            monkeypatch.delenv(name)


def refusal(**overrides: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        KnobSettings(**{**production_values(), **overrides})
    return str(caught.value)


def test_local_is_the_default_and_takes_every_local_default() -> None:
    settings = KnobSettings()
    assert settings.env == "local"
    assert str(settings.identity_jwks_url).startswith("http://127.0.0.1:")
    assert IdentitySettings().env == "local"


def test_production_with_its_own_values_validates() -> None:
    settings = KnobSettings(**production_values())
    assert settings.env == "production"


def test_lookout_env_is_one_variable_for_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOKOUT_ENV", "production")
    with pytest.raises(ValidationError) as caught:
        IdentitySettings()
    assert "LOOKOUT_IDENTITY_DATABASE_URL points at loopback" in str(caught.value)
    # The service's own prefix does not name it: one setting per deployment, not per service.
    monkeypatch.setenv("LOOKOUT_ENV", "local")
    monkeypatch.setenv("LOOKOUT_IDENTITY_ENV", "production")
    assert IdentitySettings().env == "local"


def test_an_unknown_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOKOUT_ENV", "prod")
    with pytest.raises(ValidationError, match="LOOKOUT_ENV"):
        KnobSettings()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("database_url", "postgresql://lookout_test:pw@127.0.0.1:5432/lookout_test"),
        ("database_url", "postgresql://lookout_test:pw@postgres:5432,localhost:5433/lookout_test"),
        ("kafka_bootstrap_servers", "kafka:9092,127.0.0.1:9092"),
        ("kafka_bootstrap_servers", "localhost:9092"),
        ("clickhouse_url", "http://[::1]:8123"),
        ("otel_exporter_otlp_endpoint", "http://127.0.0.2:4318"),
        ("identity_jwks_url", "http://127.0.0.1:8080/api/identity/.well-known/jwks.json"),
        ("identity_url", "http://localhost:8080/api/identity"),
        ("datasource_url", "http://127.0.0.1:8080/api/datasource"),
        ("smtp_host", "localhost"),
        ("forwarded_allow_ips", "127.0.0.1"),
        ("forwarded_allow_ips", "172.30.0.10, ::1"),
    ],
)
def test_production_refuses_a_loopback_address(field: str, value: str) -> None:
    message = refusal(**{field: value})
    assert f"{PREFIX}{field.upper()} points at loopback" in message
    assert "LOOKOUT_ENV=production" in message


SERVICES = ["identity", "dashboard", "datasource", "alert", "ingestion", "analytics"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_refuses_its_local_defaults_in_production(service: str) -> None:
    settings_class = importlib.import_module(f"lookout_{service}.settings").Settings
    settings_class()  # locally they need nothing
    with pytest.raises(ValidationError) as caught:
        settings_class(env="production")
    message = str(caught.value)
    prefix = f"LOOKOUT_{service.upper()}_"
    expected = ["KAFKA_BOOTSTRAP_SERVERS", "FORWARDED_ALLOW_IPS"]
    fields = settings_class.model_fields
    expected += [
        name.upper() for name in ("database_url", "clickhouse_url") if fields[name].default
    ]
    if issubclass(settings_class, AuthSettings):
        expected.append("IDENTITY_JWKS_URL")
    if issubclass(settings_class, ServiceClientSettings):
        expected.append("IDENTITY_URL")
    for variable in expected:
        assert f"{prefix}{variable} points at loopback" in message
    if issubclass(settings_class, SecretBoxSettings):
        assert f"{prefix}SECRET_KEYS holds a key committed in the repository" in message


def test_a_list_of_refused_servers_is_no_address() -> None:
    assert KnobSettings(**production_values()).refused_servers == ("127.0.0.1:5432",)


def test_production_refuses_the_local_secret_box_key() -> None:
    values = production_values()
    del values["secret_keys"], values["secret_primary_kid"]
    with pytest.raises(ValidationError) as caught:
        KnobSettings(**values)
    message = str(caught.value)
    assert f"{PREFIX}SECRET_KEYS holds a key committed in the repository" in message
    assert LOCAL_KEY not in message


def test_production_refuses_the_local_key_under_another_kid_and_spelling() -> None:
    # The same 32 bytes in the other base64 alphabet with padding, among other keys.
    respelled = base64.b64encode(base64.urlsafe_b64decode(LOCAL_KEY + "=")).decode()
    message = refusal(
        secret_keys={"2026-12": new_key(), "old": respelled}, secret_primary_kid="2026-12"
    )
    assert f"{PREFIX}SECRET_KEYS holds a key committed in the repository" in message
    assert respelled not in message


@pytest.mark.parametrize("secret", [None, "", "  "])
def test_production_refuses_a_missing_service_secret(secret: str | None) -> None:
    assert f"{PREFIX}SERVICE_SECRET is not set" in refusal(service_secret=secret)


def identity_production_values() -> dict[str, Any]:
    return {
        **{k: v for k, v in production_values().items() if k in ServiceSettings.model_fields},
        "service_clients": {"dashboard": SecretStr(secrets.token_urlsafe(32))},
        "signing_key_encryption_key": new_key(),
    }


def test_identity_in_production_with_its_own_keys_validates() -> None:
    settings = IdentitySettings(**identity_production_values())
    assert settings.env == "production"


def test_identity_refuses_the_committed_signing_key_encryption_key() -> None:
    values = {
        **identity_production_values(),
        "signing_key_encryption_key": LOCAL_SIGNING_KEY_ENCRYPTION_KEY,
    }
    with pytest.raises(ValidationError) as caught:
        IdentitySettings(**values)
    message = str(caught.value)
    assert "LOOKOUT_IDENTITY_SIGNING_KEY_ENCRYPTION_KEY holds a key committed" in message
    # Without SECRET_KEYS the box takes that key too: refused under both names.
    assert "LOOKOUT_IDENTITY_SECRET_KEYS holds a key committed" in message
    assert LOCAL_SIGNING_KEY_ENCRYPTION_KEY not in message


def test_identity_refuses_no_service_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {k: v for k, v in identity_production_values().items() if k != "service_clients"}
    with pytest.raises(ValidationError, match="LOOKOUT_IDENTITY_SERVICE_CLIENTS is not set"):
        IdentitySettings(**values)
    # From the environment, as compose gives it.
    monkeypatch.setenv("LOOKOUT_IDENTITY_SERVICE_CLIENTS", json.dumps({"alert": "s" * 40}))
    assert IdentitySettings(**values).service_clients["alert"].get_secret_value() == "s" * 40


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("db.localhost", True),
        ("identity", False),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("localhost-db", False),
    ],
)
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_hosts_of_every_address_shape() -> None:
    assert hosts_of("postgresql://u:p@a:5432,b:5433/db") == ["a", "b"]
    assert hosts_of("kafka-0:9092, kafka-1:9092") == ["kafka-0", "kafka-1"]
    assert hosts_of("http://[::1]:8123/x") == ["::1"]
    assert hosts_of("redis://:pw@cache:6379/0") == ["cache"]
    assert hosts_of("smtp.example.com") == ["smtp.example.com"]
    assert hosts_of("*") == ["*"]
