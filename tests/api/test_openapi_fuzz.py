"""Every service's OpenAPI, fuzzed by schemathesis through the gateway: a 5xx from any input fails."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from lookout_testing.servers import Servers
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.schemas import BaseOpenAPISchema

# FastAPI publishes OpenAPI 3.1; schemathesis 3.x supports it behind this switch.
schemathesis.experimental.OPEN_API_3_1.enable()

SERVICES = ["identity", "dashboard", "datasource", "alert", "ingestion", "analytics"]


@pytest.fixture(params=SERVICES)
def service_schema(request: pytest.FixtureRequest, servers: Servers) -> BaseOpenAPISchema:
    base = f"{servers.gateway}/api/{request.param}"
    ready = httpx.get(f"{base}/readyz", timeout=10)
    assert ready.status_code == 200, f"{request.param} is not ready: {ready.text}"
    return schemathesis.from_uri(f"{base}/openapi.json", base_url=base)


schema = schemathesis.from_pytest_fixture("service_schema")


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_from_any_input(case: schemathesis.Case) -> None:
    response = case.call(timeout=10)
    case.validate_response(response, checks=(not_a_server_error,))
