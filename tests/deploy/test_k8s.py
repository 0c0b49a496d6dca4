"""The Kubernetes manifests (deploy/k8s/), checked without a cluster: every resource against a
current Kubernetes's schemas (kubernetes-validate, strict: no unknown field), every compose service
has its Deployment with the same LOOKOUT_* variables, and each service's settings, built from its
Deployment's environment (ConfigMap and Secret references resolved), validate in production."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version
from packaging.version import Version

from tests.deploy.test_compose import (
    APP_SERVICES,
    GATEWAY_CONFIG,
    REPO,
    SERVICES,
    environment_of,
    image_reference_problem,
)
from tests.deploy.test_compose_settings import OPERATOR_ENV, example_variables, settings_from

K8S = REPO / "deploy" / "k8s"
# What the manifests expect to exist already (deploy/k8s/README.md): compose runs its own.
EXTERNAL = {
    "postgres": "PostgreSQL",
    "kafka": "Kafka",
    "clickhouse": "ClickHouse",
    "otel-collector": "OpenTelemetry collector",
}
KUBERNETES_VERSION = latest_version()
OLDEST_ACCEPTED = Version("1.37")
NOT_RESOURCES = {"kustomization.yaml"}
APPLIED_BEFORE = {"migrate-job.yaml"}  # applied on its own, before a rollout (README)
VARIABLE_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def manifest_files() -> list[Path]:
    return sorted(path for path in K8S.glob("*.yaml") if path.name not in NOT_RESOURCES)


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in manifest_files():
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                found.append((path.name, document))
    return found


DOCUMENTS = documents()


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in DOCUMENTS if doc["kind"] == kind}


DEPLOYMENTS = resources("Deployment")
JOBS = resources("Job")
CONFIG = resources("ConfigMap")["lookout-config"]["data"]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def only_container(workload: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod_spec(workload)["containers"]
    return dict(container)


def resolved_environment(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet makes it: ConfigMap keys from config.yaml,
    Secret keys from the operator's env file (the example filled in), $(VAR) of earlier ones."""
    environment: dict[str, str] = {}
    for entry in container.get("env") or []:
        source = entry.get("valueFrom") or {}
        if "configMapKeyRef" in source:
            value = CONFIG[source["configMapKeyRef"]["key"]]
        elif "secretKeyRef" in source:
            value = OPERATOR_ENV[source["secretKeyRef"]["key"]]
        else:
            value = VARIABLE_REFERENCE.sub(
                lambda match: environment.get(match[1], match[0]), str(entry["value"])
            )
        environment[entry["name"]] = value
    return environment


def lookout_names(names: Any) -> set[str]:
    return {name for name in names if name.startswith("LOOKOUT_")}


# --- the schemas ---------------------------------------------------------------------------------


def test_the_schemas_are_of_a_current_kubernetes() -> None:
    assert Version(KUBERNETES_VERSION) >= OLDEST_ACCEPTED, KUBERNETES_VERSION


@pytest.mark.parametrize(
    ("file", "document"),
    DOCUMENTS,
    ids=[f"{file}:{doc['kind']}/{doc['metadata']['name']}" for file, doc in DOCUMENTS],
)
def test_every_resource_validates_against_the_kubernetes_schemas(
    file: str, document: dict[str, Any]
) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_validation_refuses_a_broken_resource() -> None:
    deployment = yaml.safe_load(yaml.safe_dump(DEPLOYMENTS["dashboard"]))
    pod_spec(deployment)["containers"][0]["livenessProbe"]["httpGet"]["pathh"] = "/livez"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_kustomization_applies_every_manifest_but_the_migration_job() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    expected = {path.name for path in manifest_files()} - APPLIED_BEFORE
    assert listed == expected
    assert kustomization["namespace"] == "lookout"


# --- every compose service is deployed ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_compose_service_has_its_deployment_or_is_external(name: str) -> None:
    if name in EXTERNAL:
        assert EXTERNAL[name] in (K8S / "README.md").read_text(), f"README: {EXTERNAL[name]}?"
        return
    assert name in DEPLOYMENTS, f"{name} runs in compose and has no Deployment in deploy/k8s"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_environment_names_agree_between_compose_and_kubernetes(name: str) -> None:
    compose = lookout_names(environment_of(SERVICES[name]))
    kubernetes = lookout_names(entry["name"] for entry in only_container(DEPLOYMENTS[name])["env"])
    assert kubernetes == compose, (
        f"{name}: only in compose {sorted(compose - kubernetes)}, "
        f"only in Kubernetes {sorted(kubernetes - compose)}: a variable added to compose goes into "
        f"deploy/k8s/{name}.yaml too (and migrate-job.yaml, for a PostgreSQL-backed service), "
        "its value a reference to lookout-config or lookout-secrets"
    )


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_settings_from_its_deployment_validate_in_production(name: str) -> None:
    environment = resolved_environment(only_container(DEPLOYMENTS[name]))
    unresolved = {k: v for k, v in environment.items() if VARIABLE_REFERENCE.search(v)}
    assert not unresolved, f"{name}: $(VAR) defined later or never: {unresolved}"
    settings = settings_from(name, environment)
    assert settings.env == "production"


def test_every_secret_is_a_variable_of_the_operators_env_file() -> None:
    # kubectl create secret generic lookout-secrets --from-env-file=production.env
    required, _ = example_variables()
    for workload in [*DEPLOYMENTS.values(), *JOBS.values()]:
        for container in pod_spec(workload)["containers"]:
            for entry in container.get("env") or []:
                reference = (entry.get("valueFrom") or {}).get("secretKeyRef")
                if reference:
                    assert reference["name"] == "lookout-secrets"
                    assert reference["key"] in required, f"{entry['name']}: {reference['key']}"


def test_services_reach_each_other_by_their_service_names() -> None:
    services = resources("Service")
    for name in APP_SERVICES:
        port = int(environment_of(SERVICES[name])[f"LOOKOUT_{name.upper()}_PORT"])
        assert [p["port"] for p in services[name]["spec"]["ports"]] == [port], name
    # The JWKS URL (and every other peer URL) is compose's, by name: the same names here.
    for name in APP_SERVICES:
        environment = resolved_environment(only_container(DEPLOYMENTS[name]))
        jwks = environment.get(f"LOOKOUT_{name.upper()}_IDENTITY_JWKS_URL")
        if jwks is not None:
            assert jwks.startswith("http://identity:8101/"), f"{name}: {jwks}"
    assert "redis" in services


# --- one service's resources --------------------------------------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_deployment_probes_livez_and_readyz_on_the_service_port(name: str) -> None:
    container = only_container(DEPLOYMENTS[name])
    port = int(environment_of(SERVICES[name])[f"LOOKOUT_{name.upper()}_PORT"])
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/livez"


@pytest.mark.parametrize("name", [*APP_SERVICES, "gateway"])
def test_scaled_and_kept_available(name: str) -> None:
    deployment = DEPLOYMENTS[name]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    # The autoscaler owns the replica count: a fixed one would be reset at every apply.
    assert "replicas" not in deployment["spec"]
    autoscaler = resources("HorizontalPodAutoscaler")[name]["spec"]
    assert autoscaler["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": name,
    }
    assert 2 <= autoscaler["minReplicas"] <= autoscaler["maxReplicas"]
    budget = resources("PodDisruptionBudget")[name]["spec"]
    assert budget["selector"]["matchLabels"] == selector
    service = resources("Service")[name]["spec"]
    assert service["selector"] == selector


WORKLOADS = [("Deployment", name) for name in DEPLOYMENTS] + [("Job", name) for name in JOBS]


@pytest.mark.parametrize(("kind", "name"), WORKLOADS)
def test_every_pod_runs_unprivileged_on_a_read_only_root(kind: str, name: str) -> None:
    spec = pod_spec(resources(kind)[name])
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"]:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        requests = container["resources"]["requests"]
        assert {"cpu", "memory"} <= set(requests) and "memory" in container["resources"]["limits"]
        assert image_reference_problem(container["image"]) is None, container["image"]


def test_shutdown_outlasts_the_longest_flush() -> None:
    flush = settings_from("ingestion", {}).revoke_flush_timeout_s
    for name in APP_SERVICES:
        spec = pod_spec(DEPLOYMENTS[name])
        assert spec["terminationGracePeriodSeconds"] > flush + 5, name


# --- migrations ------------------------------------------------------------------------------


def test_the_job_migrates_every_postgres_service_with_its_own_environment() -> None:
    (job,) = JOBS.values()
    containers = {c["name"]: c for c in pod_spec(job)["containers"]}
    with_database = {
        name
        for name in APP_SERVICES
        if f"LOOKOUT_{name.upper()}_DATABASE_URL" in environment_of(SERVICES[name])
    }
    assert set(containers) == with_database
    for name, container in containers.items():
        assert container["args"] == ["lookout-migrate", name]
        assert container["image"] == only_container(DEPLOYMENTS[name])["image"]
        assert container["env"] == only_container(DEPLOYMENTS[name])["env"], name
    assert pod_spec(job)["restartPolicy"] == "OnFailure"


# --- the gateway ------------------------------------------------------------------------------------


def significant_lines(text: str) -> list[str]:
    """Configuration lines without comments, blank lines and Docker's resolver."""
    lines = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].rstrip() if line.lstrip().startswith("#") else line.rstrip()
        if not line or line.lstrip().startswith(("resolver ", "resolver_timeout ")):
            continue
        lines.append(line.replace(" resolve;", ";"))
    return lines


def test_gateway_config_is_composes_without_dockers_resolver() -> None:
    config = resources("ConfigMap")["gateway-nginx"]["data"]["nginx.conf"]
    assert significant_lines(config) == significant_lines(GATEWAY_CONFIG.read_text()), (
        "deploy/k8s/gateway.yaml's nginx.conf must follow deploy/gateway/nginx.conf"
    )
    assert "resolver" not in "\n".join(significant_lines(config))
    mounts = only_container(DEPLOYMENTS["gateway"])["volumeMounts"]
    assert {
        "name": "config",
        "mountPath": "/etc/nginx/nginx.conf",
        "subPath": "nginx.conf",
        "readOnly": True,
    } in mounts


def test_gateway_keeps_the_clients_address() -> None:
    service = resources("Service")["gateway"]["spec"]
    assert service["type"] == "LoadBalancer" and service["externalTrafficPolicy"] == "Local"
    # Every forwarded address is trusted: only the gateway and the services may connect.
    assert CONFIG["FORWARDED_ALLOW_IPS"] == "*"
    policy = resources("NetworkPolicy")["lookout-services"]["spec"]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "service"
    (rule,) = policy["ingress"]
    (peer,) = rule["from"]
    (expression,) = peer["podSelector"]["matchExpressions"]
    assert set(expression["values"]) == {"gateway", "service"}
    for name in APP_SERVICES:
        labels = DEPLOYMENTS[name]["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == "service", name
