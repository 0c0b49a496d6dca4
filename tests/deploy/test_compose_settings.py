"""Every service's settings, built from docker-compose.yml as compose would hand them over (the
required values of deploy/production.env.example filled in), in production mode: they validate,
no address is loopback, and the services reach each other by their compose names."""

from __future__ import annotations

import base64
import importlib
import ipaddress
import json
import os
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

import pytest
from lookout_kit.settings import AuthSettings, ServiceClientSettings, ServiceSettings

from tests.deploy.test_compose import APP_SERVICES, COMPOSE, REPO, SERVICES, environment_of

ENV_EXAMPLE = REPO / "deploy" / "production.env.example"
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}
SUBSTITUTION = re.compile(r"\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?:(?P<kind>:?[-?])(?P<rest>[^}]*))?\}")
LOOPBACK_TEXT = re.compile(r"(?i)\b127\.\d+\.\d+\.\d+\b|\blocalhost\b|\[::1\]")


def example_variables() -> tuple[set[str], set[str]]:
    """(required, optional) variables of the example: ``NAME=`` lines, ``# NAME=value`` lines."""
    required, optional = set(), set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        if match := re.fullmatch(r"([A-Z_][A-Z0-9_]*)=\s*", line):
            required.add(match[1])
        elif match := re.fullmatch(r"#\s*([A-Z_][A-Z0-9_]*)=\S+", line):
            optional.add(match[1])
    return required, optional


def compose_variables() -> dict[str, bool]:
    """Every variable the compose file substitutes outside comments -> whether it is required."""
    variables: dict[str, bool] = {}
    for line in (REPO / "docker-compose.yml").read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        for match in SUBSTITUTION.finditer(line):
            required = (match["kind"] or "").endswith("?")
            variables[match["name"]] = variables.get(match["name"], False) or required
    return variables


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def filled_in(name: str) -> str:
    """A value an operator could give ``name``, of the shape its comment asks for."""
    if name.endswith("_SECRET_KEYS"):
        return json.dumps({"2026-12": new_key()})
    if name.endswith("_SECRET_PRIMARY_KID"):
        return "2026-12"
    if name.endswith("_ENCRYPTION_KEY"):
        return new_key()
    if name == "SMTP_HOST":
        return "smtp.example.com"
    if name == "SMTP_FROM":
        return "alerts@example.com"
    return secrets.token_hex(24)


OPERATOR_ENV = {name: filled_in(name) for name in example_variables()[0]}


def substitute(value: str, env: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name, kind, rest = match["name"], match["kind"] or "", match["rest"] or ""
        present = env.get(name)
        if kind.endswith("?"):
            assert present, f"${{{name}}} is required and the example does not list it"
            return present
        if kind == ":-":
            return present or rest
        if kind == "-":
            return rest if present is None else present
        return present or ""

    return SUBSTITUTION.sub(one, value)


def service_environment(name: str) -> dict[str, str]:
    return {
        key: substitute(value, OPERATOR_ENV)
        for key, value in environment_of(SERVICES[name]).items()
    }


def settings_class(name: str) -> type[ServiceSettings]:
    cls: type[ServiceSettings] = importlib.import_module(f"lookout_{name}.settings").Settings
    return cls


def settings_of(name: str) -> Any:
    """The service's settings from its compose environment alone, as its container reads them."""
    return settings_from(name, service_environment(name))


def settings_from(name: str, environment: dict[str, str]) -> Any:
    """The service's settings from ``environment`` alone (no other LOOKOUT_* variable)."""
    saved = dict(os.environ)
    try:
        for key in list(os.environ):
            if key.startswith("LOOKOUT_"):
                del os.environ[key]
        os.environ.update(environment)
        return settings_class(name)()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def port_of(name: str) -> int:
    return int(service_environment(name)[f"LOOKOUT_{name.upper()}_PORT"])


# --- the example and the compose file agree ---------------------------------------------------


def test_the_example_lists_every_required_variable_and_no_other() -> None:
    required, optional = example_variables()
    used = compose_variables()
    needed = {name for name, is_required in used.items() if is_required}
    assert needed <= required, f"required by compose, missing in the example: {needed - required}"
    assert required <= needed, f"in the example, not required by compose: {required - needed}"
    assert optional <= set(used), f"optional in the example, unused: {optional - set(used)}"


# --- every service validates in production ------------------------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_settings_validate_in_production(name: str) -> None:
    settings = settings_of(name)
    assert settings.env == "production", f"{name}: compose must set LOOKOUT_ENV"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_no_address_of_a_service_is_loopback(name: str) -> None:
    for key, value in service_environment(name).items():
        assert not LOOPBACK_TEXT.search(value), f"{name}: {key}={value} is loopback"


@pytest.mark.parametrize(
    "name", [n for n in APP_SERVICES if issubclass(settings_class(n), AuthSettings)]
)
def test_token_verifying_service_reaches_identity_jwks_by_its_compose_name(name: str) -> None:
    from lookout_identity.endpoints.auth import router

    url = urlsplit(str(settings_of(name).identity_jwks_url))
    assert (url.hostname, url.port) == ("identity", port_of("identity")), f"{name}: {url}"
    paths = {getattr(route, "path", None) for route in router.routes}
    assert url.path in paths, f"{name}: {url.path} is not identity's JWKS route"


def test_every_service_but_identity_verifies_tokens() -> None:
    verifying = {n for n in APP_SERVICES if issubclass(settings_class(n), AuthSettings)}
    assert verifying >= {"dashboard", "datasource", "alert", "analytics"}


@pytest.mark.parametrize(
    "name", [n for n in APP_SERVICES if issubclass(settings_class(n), ServiceClientSettings)]
)
def test_calling_service_is_a_client_identity_knows(name: str) -> None:
    settings: Any = settings_of(name)
    identity: Any = settings_of("identity")
    url = urlsplit(str(settings.identity_url))
    assert (url.hostname, url.port) == ("identity", port_of("identity"))
    assert name in identity.service_clients, f"identity's SERVICE_CLIENTS lacks {name}"
    assert (
        identity.service_clients[name].get_secret_value()
        == settings.service_secret.get_secret_value()
    ), f"{name}'s SERVICE_SECRET is not the one identity holds for it"
    datasource = urlsplit(str(settings.datasource_url))
    assert (datasource.hostname, datasource.port) == ("datasource", port_of("datasource"))


# --- the real client address ----------------------------------------------------------------------


def test_services_trust_forwarded_headers_from_the_gateway_alone() -> None:
    gateway_address = SERVICES["gateway"]["networks"]["default"]["ipv4_address"]
    (pool,) = COMPOSE["networks"]["default"]["ipam"]["config"]
    subnet, dynamic = ipaddress.ip_network(pool["subnet"]), ipaddress.ip_network(pool["ip_range"])
    address = ipaddress.ip_address(gateway_address)
    # Fixed, and outside the range Docker hands to other containers: nobody else can have it.
    assert address in subnet and address not in dynamic
    for name in APP_SERVICES:
        assert settings_of(name).forwarded_allow_ips == gateway_address, name


def test_a_data_source_may_never_point_at_the_compose_network() -> None:
    from lookout_datasource.service.egress import EgressPolicy

    (pool,) = COMPOSE["networks"]["default"]["ipam"]["config"]
    subnet = ipaddress.ip_network(pool["subnet"])
    for private_allowed in ("false", "true"):
        environment = service_environment("datasource")
        environment["LOOKOUT_DATASOURCE_EGRESS_ALLOW_PRIVATE_NETWORKS"] = private_allowed
        policy = EgressPolicy.from_settings(settings_from("datasource", environment))
        for address in (subnet[1], subnet[10], subnet[-2]):
            assert policy.refusal(address, 5432) == "one of the platform's own servers", address


def grace_period_s(text: str) -> float:
    """A compose duration (``45s``, ``1m30s``) in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text}"
    return sum(float(number) * units[unit] for number, unit in parts)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_a_stop_outlasts_the_drain_and_the_last_flush(name: str) -> None:
    """Compose's SIGKILL comes after uvicorn's drain and the app's shutdown (ingestion's last
    flush, its longest): a stop never cuts a flush short."""
    settings = settings_of(name)
    flush = getattr(settings, "revoke_flush_timeout_s", 0.0)
    grace = grace_period_s(str(SERVICES[name].get("stop_grace_period", "10s")))
    assert grace > settings.graceful_shutdown_s + flush, (name, grace)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_producers_are_idempotent_in_production(name: str) -> None:
    assert settings_of(name).kafka_idempotent_producer is True
