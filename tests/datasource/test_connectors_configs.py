"""Each kind's ``connection_config`` model: strict (unknown keys, ranges, lengths), the password
write-only (a ``SecretStr`` named in ``SECRET_FIELDS``)."""

from __future__ import annotations

from typing import Any

import pytest
from lookout_datasource.service.connectors import registry
from pydantic import SecretStr, ValidationError

VALID = {"host": "db.example.com", "database": "sales", "user": "reader", "password": "s3cret"}


@pytest.mark.parametrize("kind", registry.KINDS)
def test_a_valid_config_has_its_kinds_defaults_and_hides_the_password(kind: str) -> None:
    config = registry.config_model(kind).model_validate(VALID)
    assert config.port == {"postgresql": 5432, "clickhouse": 8123, "mysql": 3306}[kind]
    assert config.SECRET_FIELDS == ("password",)
    assert isinstance(config.password, SecretStr)
    assert "s3cret" not in repr(config) and "s3cret" not in str(config.model_dump())
    assert config.secret() == "s3cret"


@pytest.mark.parametrize("kind", registry.KINDS)
@pytest.mark.parametrize(
    "change",
    [
        {"port": 0},
        {"port": 65536},
        {"port": "x"},
        {"host": ""},
        {"host": "a b"},
        {"host": "db/../x"},
        {"host": "h" * 254},
        {"database": ""},
        {"database": "d" * 129},
        {"user": ""},
        {"user": "bad\nuser"},
        {"password": "p" * 1025},
        {"connect_timeout_s": 0},
        {"extra": 1},
    ],
)
def test_a_bad_config_is_refused(kind: str, change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        registry.config_model(kind).model_validate({**VALID, **change})


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        ("postgresql", {"ssl_mode": "verify-full"}),
        ("clickhouse", {"secure": "maybe"}),
        ("mysql", {"ssl": "maybe"}),
        ("postgresql", {"secure": True}),
        ("mysql", {"ssl_mode": "require"}),
    ],
)
def test_a_setting_of_another_kind_or_value_is_refused(kind: str, change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        registry.config_model(kind).model_validate({**VALID, **change})


def test_an_unknown_kind_has_no_model_nor_connector() -> None:
    with pytest.raises(KeyError):
        registry.config_model("oracle")
    with pytest.raises(KeyError):
        registry.connector("oracle")
