"""Where the real servers of the test run are: the local stack's defaults, overridable by environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """``CI=true`` (or ``1``): every test must run; what it needs being missing is a failure."""
    return os.environ.get("CI", "").lower() in ("true", "1")


def unavailable(what: str) -> NoReturn:
    """A server or package the test needs is missing: skip here, fail under CI."""
    if in_ci():
        pytest.fail(f"{what} (CI=true: a missing server or package fails, never skips)")
    pytest.skip(what)


@dataclass(frozen=True)
class Servers:
    postgres: str
    kafka: str
    clickhouse: str
    gateway: str
    mysql: str

    @classmethod
    def from_environment(cls) -> Servers:
        return cls(
            postgres=os.environ.get(
                "LOOKOUT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432"
            ),
            kafka=os.environ.get("LOOKOUT_TEST_KAFKA", "127.0.0.1:9092"),
            clickhouse=os.environ.get("LOOKOUT_TEST_CLICKHOUSE", "http://127.0.0.1:8123"),
            gateway=os.environ.get("LOOKOUT_TEST_GATEWAY", "http://127.0.0.1:8080"),
            mysql=os.environ.get("LOOKOUT_TEST_MYSQL", "mysql://lookout@127.0.0.1:3306"),
        )
