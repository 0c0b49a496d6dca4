"""The production stack (docker-compose.yml, deploy/), checked by parsing: no Docker needed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
GATEWAY_CONFIG = REPO / "deploy" / "gateway" / "nginx.conf"
POSTGRES_INIT = REPO / "deploy" / "postgres" / "create-databases.sh"

SERVICE_FOLDERS = sorted(
    path.name
    for path in (REPO / "services").iterdir()
    if path.is_dir() and not path.name.startswith((".", "_"))
)

# Tags that move: never acceptable as a pin.
FLOATING_TAGS = {"latest", "stable", "mainline", "edge", "lts", "current", "main", "master"}
# An explicit version (e.g. 4.2.0, 26.3.17.4, 3.11.14-slim), optionally v-prefixed and followed
# by a variant suffix (-slim, -alpine, -bookworm).
VERSION_TAG = re.compile(r"^v?(?P<version>\d+(\.\d+)*)(-[a-z0-9.]+)*$")
# How many version parts name one release: 3 (x.y.z) unless the project numbers otherwise.
# PostgreSQL's releases are major.minor (16.13), so "16" floats but "16.13" does not.
RELEASE_PARTS = {"postgres": 2}
# ${VAR:?message}: compose refuses to start when VAR is unset or empty.
REQUIRED_SUBSTITUTION = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*:\?[^}]*\}$")
SECRET_NAME = re.compile(r"(?i)(password|passwd|secret|token|api_?key|private_?key|credential)")


def load_compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict), "docker-compose.yml is not a mapping"
    return document


COMPOSE = load_compose()
SERVICES: dict[str, dict[str, Any]] = COMPOSE.get("services", {})
APP_SERVICES = [name for name in SERVICE_FOLDERS if name in SERVICES]


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        pairs = (item.split("=", 1) for item in environment)
        environment = {key: (rest[0] if rest else "") for key, *rest in pairs}
    return {str(key): "" if value is None else str(value) for key, value in environment.items()}


def is_long_running(service: dict[str, Any]) -> bool:
    """Every service runs for good unless marked one-shot (restart "no" or on-failure)."""
    marked_one_shot = str(service.get("restart", "")) in {"no", "on-failure"}
    return not marked_one_shot or "replicas" in (service.get("deploy") or {})


def healthcheck_command(service: dict[str, Any]) -> str:
    test = (service.get("healthcheck") or {}).get("test")
    return " ".join(test) if isinstance(test, list) else str(test or "")


def image_reference_problem(reference: str) -> str | None:
    """Why an image reference is not pinned to an explicit version, or None if it is."""
    if "${" in reference:
        return "its tag comes from a variable"
    if "@sha256:" in reference:
        return None
    last_part = reference.rsplit("/", 1)[-1]
    if ":" not in last_part:
        return "it has no tag (means latest)"
    name, tag = last_part.split(":", 1)
    if tag.lower() in FLOATING_TAGS:
        return f"tag {tag!r} floats"
    version = VERSION_TAG.match(tag)
    if version is None:
        return f"tag {tag!r} is not a version"
    parts = version.group("version").count(".") + 1
    if parts < RELEASE_PARTS.get(name, 3):
        return f"tag {tag!r} names a release line, not one release"
    return None


def url_credentials(value: str) -> tuple[str, str, str, str] | None:
    """(user, password, host, path) of a URL with credentials; tolerant of ${VAR:?msg} parts,
    which urllib would cut at the '?'."""
    match = re.match(
        r"^\w[\w+.-]*://(?P<user>[^:@/]+):(?P<password>\$\{[^}]*\}|[^@/]*)@"
        r"(?P<host>[^:/]+)(:\d+)?(?P<path>/[^?]*)?",
        value,
    )
    if match is None:
        return None
    return match["user"], match["password"], match["host"], match["path"] or ""


def secret_literals(document: dict[str, Any]) -> list[str]:
    """Places in a compose document where a secret is written out instead of substituted."""
    problems: list[str] = []
    for service_name, service in (document.get("services") or {}).items():
        sections = {
            "environment": environment_of(service),
            "build.args": environment_of({"environment": (service.get("build") or {}).get("args")})
            if isinstance(service.get("build"), dict)
            else {},
        }
        for section, values in sections.items():
            for key, value in values.items():
                where = f"{service_name}.{section}.{key}"
                if SECRET_NAME.search(key) and not REQUIRED_SUBSTITUTION.match(value):
                    problems.append(f"{where} = {value!r} is not a ${{VAR:?...}} substitution")
                credentials = url_credentials(value)
                if credentials and not REQUIRED_SUBSTITUTION.match(credentials[1]):
                    problems.append(f"{where} has a literal password in its URL")
    return problems


def gateway_locations() -> dict[str, str]:
    """location prefix -> proxy_pass target, from the gateway's nginx config."""
    text = GATEWAY_CONFIG.read_text()
    locations: dict[str, str] = {}
    for match in re.finditer(r"location\s+(/\S*)\s*\{(.*?)\}", text, re.DOTALL):
        proxy = re.search(r"proxy_pass\s+(\S+);", match.group(2))
        if proxy:
            locations[match.group(1)] = proxy.group(1)
    return locations


def gateway_upstreams() -> dict[str, list[str]]:
    """upstream name -> its server addresses."""
    text = GATEWAY_CONFIG.read_text()
    return {
        match.group(1): re.findall(r"^\s*server\s+(\S+?)[\s;]", match.group(2), re.MULTILINE)
        for match in re.finditer(r"upstream\s+(\S+)\s*\{(.*?)\}", text, re.DOTALL)
    }


# --- every service is deployed ------------------------------------------------------------------


def test_the_repository_has_services_to_deploy() -> None:
    assert SERVICE_FOLDERS, "no folder under services/"


@pytest.mark.parametrize("name", SERVICE_FOLDERS)
def test_every_service_folder_has_a_compose_entry(name: str) -> None:
    assert name in SERVICES, f"services/{name} has no entry in docker-compose.yml"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_is_built_from_the_one_dockerfile(name: str) -> None:
    build = SERVICES[name].get("build")
    assert isinstance(build, dict), f"{name}: build must be a mapping"
    assert build.get("context") in {".", "./"}, f"{name}: build context must be the repo root"
    assert build.get("dockerfile") == "deploy/Dockerfile"
    args = environment_of({"environment": build.get("args")})
    assert args.get("SERVICE") == name or build.get("target") == name, (
        f"{name}: the build must select the service (args.SERVICE={name} or target={name})"
    )


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_has_a_replica_count(name: str) -> None:
    replicas = (SERVICES[name].get("deploy") or {}).get("replicas")
    assert isinstance(replicas, int) and replicas >= 1, f"{name}: deploy.replicas missing"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_can_run_as_several_replicas(name: str) -> None:
    service = SERVICES[name]
    assert "container_name" not in service, f"{name}: container_name forbids replicas"
    assert not service.get("ports"), f"{name}: only the gateway publishes ports (replicas clash)"


def test_some_service_runs_several_replicas() -> None:
    replicas = {name: SERVICES[name]["deploy"]["replicas"] for name in APP_SERVICES}
    assert max(replicas.values()) >= 2, f"no service runs replicated: {replicas}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_settings_use_its_own_prefix(name: str) -> None:
    environment = environment_of(SERVICES[name])
    prefix = f"LOOKOUT_{name.upper()}_"
    # LOOKOUT_ENV is one setting of the whole deployment (local or production), not a service's.
    foreign = [
        k
        for k in environment
        if k.startswith("LOOKOUT_") and not k.startswith(prefix) and k != "LOOKOUT_ENV"
    ]
    assert not foreign, f"{name}: settings of another prefix: {foreign}"
    assert environment.get(f"{prefix}ROOT_PATH") == f"/api/{name}"
    assert environment.get(f"{prefix}KAFKA_BOOTSTRAP_SERVERS", "").startswith("kafka:")
    assert environment.get(f"{prefix}OTEL_EXPORTER_OTLP_ENDPOINT", "").startswith(
        "http://otel-collector:"
    )
    has_database = f"{prefix}DATABASE_URL" in environment
    has_clickhouse = f"{prefix}CLICKHOUSE_URL" in environment
    assert has_database or has_clickhouse, f"{name}: neither PostgreSQL nor ClickHouse configured"


# --- images -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_image_is_pinned(name: str) -> None:
    service = SERVICES[name]
    if "image" not in service:
        assert "build" in service, f"{name}: neither image nor build"
        return
    problem = image_reference_problem(str(service["image"]))
    assert problem is None, f"{name}: image {service['image']!r} is not pinned: {problem}"


@pytest.mark.parametrize(
    ("reference", "pinned"),
    [
        ("postgres:16.13", True),
        ("clickhouse/clickhouse-server:26.3.17.4", True),
        ("python:3.11.14-slim", True),
        ("nginx@sha256:" + "0" * 64, True),
        ("postgres", False),
        ("postgres:latest", False),
        ("postgres:16", False),
        ("nginx:stable", False),
        ("nginx:1.28", False),
        ("python:3.11-slim", False),
        ("apache/kafka:${KAFKA_VERSION}", False),
    ],
)
def test_the_pin_rule_itself(reference: str, pinned: bool) -> None:
    assert (image_reference_problem(reference) is None) is pinned


def image_of(name: str) -> str:
    return str(SERVICES[name]["image"])


def test_the_infrastructure_is_the_documented_one() -> None:
    assert image_of("kafka").startswith("apache/kafka:")
    assert image_of("postgres").startswith("postgres:16.")
    assert image_of("clickhouse").startswith("clickhouse/clickhouse-server:")
    assert image_of("otel-collector").startswith("otel/opentelemetry-collector-contrib:")
    assert image_of("gateway").startswith("nginx:")


def test_kafka_runs_in_kraft_mode() -> None:
    environment = environment_of(SERVICES["kafka"])
    roles = set(environment.get("KAFKA_PROCESS_ROLES", "").split(","))
    assert roles == {"broker", "controller"}, "single node: one process with both KRaft roles"
    assert environment.get("KAFKA_CONTROLLER_QUORUM_VOTERS") or environment.get(
        "KAFKA_CONTROLLER_QUORUM_BOOTSTRAP_SERVERS"
    )
    assert not any("ZOOKEEPER" in key for key in environment), "KRaft: no ZooKeeper"
    assert "zookeeper" not in SERVICES


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_file_mounted_from_the_repo_exists(name: str) -> None:
    for volume in SERVICES[name].get("volumes") or []:
        source = str(volume).split(":", 1)[0] if isinstance(volume, str) else volume.get("source")
        if source and source.startswith("./"):
            assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"


# --- health ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_long_running_service_has_a_healthcheck(name: str) -> None:
    service = SERVICES[name]
    if not is_long_running(service):
        return
    healthcheck = service.get("healthcheck") or {}
    assert not healthcheck.get("disable"), f"{name}: healthcheck disabled"
    command = healthcheck_command(service)
    assert command and not command.startswith("NONE"), f"{name}: no healthcheck"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_healthcheck_asks_readyz_on_the_service_port(name: str) -> None:
    port = environment_of(SERVICES[name]).get(f"LOOKOUT_{name.upper()}_PORT")
    assert port, f"{name}: LOOKOUT_{name.upper()}_PORT is not set"
    assert f":{port}/readyz" in healthcheck_command(SERVICES[name])


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_dependencies_wait_for_health(name: str) -> None:
    depends_on = SERVICES[name].get("depends_on") or {}
    assert isinstance(depends_on, dict), f"{name}: depends_on must give a condition per dependency"
    for dependency, rule in depends_on.items():
        assert dependency in SERVICES, f"{name} depends on unknown service {dependency}"
        assert rule.get("condition") == "service_healthy", f"{name} -> {dependency}"
        assert SERVICES[dependency].get("healthcheck"), f"{dependency}: no healthcheck to wait for"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_waits_for_what_it_uses(name: str) -> None:
    environment = environment_of(SERVICES[name])
    depends_on = set(SERVICES[name].get("depends_on") or {})
    prefix = f"LOOKOUT_{name.upper()}_"
    expected = {"kafka"}
    if f"{prefix}DATABASE_URL" in environment:
        expected.add("postgres")
    if f"{prefix}CLICKHOUSE_URL" in environment:
        expected.add("clickhouse")
    assert expected <= depends_on, f"{name} does not wait for {expected - depends_on}"


# --- the Dockerfile ---------------------------------------------------------------------------


def dockerfile_text() -> str:
    assert DOCKERFILE.is_file(), "deploy/Dockerfile is missing"
    return DOCKERFILE.read_text()


def with_argument_defaults(text: str) -> str:
    """The Dockerfile with ${ARG} replaced by the ARG's default, where it has one."""
    defaults = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.MULTILINE))
    return re.sub(r"\$\{(\w+)\}", lambda match: defaults.get(match[1], match[0]), text)


def test_dockerfile_selects_the_service_by_build_arg() -> None:
    text = dockerfile_text()
    assert re.search(r"^ARG SERVICE\b", text, re.MULTILINE), "no ARG SERVICE"
    assert '--package "lookout-${SERVICE}"' in text, "the install must pick the service's package"
    assert re.search(r"^ENV LOOKOUT_SERVICE=\$\{SERVICE\}", text, re.MULTILINE)
    command = re.findall(r"^CMD (.+)$", text, re.MULTILINE)
    assert command and "lookout-serve" in command[-1] and "LOOKOUT_SERVICE" in command[-1], (
        "the image must start the service it was built for"
    )


def test_dockerfile_copies_only_what_exists() -> None:
    for source in re.findall(r"^COPY (?:--chmod=\S+ )?(?!--from)(\S+)", dockerfile_text(), re.M):
        assert (REPO / source).exists(), f"deploy/Dockerfile copies {source}, which is missing"


def test_dockerfile_installs_the_locked_set_with_uv() -> None:
    text = dockerfile_text()
    assert "uv.lock" in text
    sync = re.search(r"uv sync[^\n]*(\\\n[^\n]*)*", text)
    assert sync and "--frozen" in sync.group(0), "uv sync must run in frozen mode"
    assert "--no-dev" in sync.group(0)
    assert re.search(r"uv==\d+\.\d+\.\d+\b", with_argument_defaults(text)), "uv must be pinned"


def test_dockerfile_is_multi_stage_on_a_pinned_python_311_slim() -> None:
    text = with_argument_defaults(dockerfile_text())
    bases = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert len(bases) >= 2, "build and runtime stages"
    for base in bases:
        assert base.startswith("python:3.11."), f"base image {base} is not python 3.11"
        assert "slim" in base
        assert image_reference_problem(base) is None, f"base image {base} is not pinned"


def test_dockerfile_runs_as_an_unprivileged_user() -> None:
    users = re.findall(r"^USER\s+(\S+)", dockerfile_text(), re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}


# --- the gateway --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_gateway_routes_the_service_and_strips_its_prefix(name: str) -> None:
    target = gateway_locations().get(f"/api/{name}/")
    assert target, f"gateway has no location /api/{name}/"
    assert re.fullmatch(r"http://[\w.-]+(:\d+)?/", target), (
        f"/api/{name}/ -> {target}: proxy_pass must end in / to strip the prefix"
    )
    upstream = target.removeprefix("http://").rstrip("/")
    port = environment_of(SERVICES[name])[f"LOOKOUT_{name.upper()}_PORT"]
    servers = gateway_upstreams().get(upstream, [upstream])
    assert f"{name}:{port}" in servers, f"/api/{name}/ goes to {servers}, not {name}:{port}"


def test_gateway_is_the_only_published_port_and_mounts_its_config() -> None:
    gateway = SERVICES["gateway"]
    assert gateway.get("ports")
    mounts = [str(volume) for volume in gateway.get("volumes") or []]
    assert any(m.startswith("./deploy/gateway/nginx.conf:") for m in mounts)
    published = [name for name, service in SERVICES.items() if service.get("ports")]
    assert published == ["gateway"], f"services publishing ports: {published}"


def test_gateway_waits_for_no_app_service() -> None:
    """One service failing its healthcheck must not keep the gateway, and so every API, down: the
    gateway answers 503 for that service alone (deploy/gateway/nginx.conf, ``@unavailable``)."""
    depends_on = set(SERVICES["gateway"].get("depends_on") or {})
    assert not set(APP_SERVICES) & depends_on


# --- databases ----------------------------------------------------------------------------------


def test_each_postgres_service_gets_its_own_database_and_role() -> None:
    script = POSTGRES_INIT.read_text()
    listed = re.search(r'^services="([\w ]+)"', script, re.MULTILINE)
    assert listed, "create-databases.sh must list the services it creates databases for"
    created = {f"lookout_{name}" for name in listed.group(1).split()}
    for name in APP_SERVICES:
        url = environment_of(SERVICES[name]).get(f"LOOKOUT_{name.upper()}_DATABASE_URL")
        if url is None:
            continue
        credentials = url_credentials(url)
        assert credentials, f"{name}: DATABASE_URL has no user:password@host"
        user, password, host, path = credentials
        database = path.lstrip("/")
        assert database == f"lookout_{name}", f"{name} uses database {database}"
        assert user == database, f"{name} must log in as its own role"
        assert host == "postgres"
        assert REQUIRED_SUBSTITUTION.match(password), f"{name}: password must be substituted"
        assert database in created, f"{database} is not created by create-databases.sh"
        variable = f"LOOKOUT_{name.upper()}_DB_PASSWORD"
        assert variable in environment_of(SERVICES["postgres"]), f"postgres lacks {variable}"


# --- secrets ------------------------------------------------------------------------------------


def test_no_secret_is_written_into_the_compose_file() -> None:
    assert secret_literals(COMPOSE) == []


def test_no_password_literal_anywhere_in_the_text() -> None:
    # Catches what the structured check cannot see (anchors, commands, healthchecks).
    for number, line in enumerate(COMPOSE_FILE.read_text().splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        # Substitutions are fine whatever they say (their messages name the variables).
        line = re.sub(r"\$\{[^}]*\}", "${}", line)
        for match in re.finditer(r"(?i)(password|secret|token)\w*[\"']?\s*[:=]\s*(\S+)", line):
            value = match.group(2).strip("\"'")
            assert value.startswith("${}"), f"line {number}: literal secret {match.group(0)!r}"
        for match in re.finditer(r"://[^/\s:@]+:([^@\s]*)@", line):
            assert match.group(1) == "${}", f"line {number}: literal password in a URL"


def test_the_secret_check_catches_literals() -> None:
    planted = yaml.safe_load(
        """
        services:
          app:
            environment:
              APP_DB_PASSWORD: hunter2
              APP_DATABASE_URL: postgresql://app:hunter2@db/app
              APP_API_KEY: ${APP_API_KEY:-changeme}
              APP_SECRET_KEY: ${APP_SECRET_KEY:?set it}
        """
    )
    problems = secret_literals(planted)
    assert len(problems) == 3, problems
