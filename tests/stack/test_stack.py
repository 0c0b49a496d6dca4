"""The local stack behind ``make up``: its config renderer, and the running stack."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from lookout_testing.servers import Servers
from supervisor.xmlrpc import SupervisorTransport

REPO = Path(__file__).resolve().parents[2]
STACK_DIR = REPO / "deploy" / "local"
sys.path.insert(0, str(STACK_DIR))

from stack_config import (  # noqa: E402  (deploy/local is a script folder, not a package)
    SERVICE_PORTS,
    make_plan,
    parse_scale,
    render_nginx_conf,
    render_supervisord_conf,
    stop_by_pid_file,
)

AVAILABLE = [
    name
    for name in SERVICE_PORTS
    if (REPO / "services" / name / "src" / f"lookout_{name}" / "app.py").is_file()
]


# --- private servers' stop (no stack needed) ---------------------------------------------------------


def test_a_private_server_is_stopped_by_its_pid_file(tmp_path: Path) -> None:
    pid_file = tmp_path / "server.pid"
    assert stop_by_pid_file(pid_file, timeout=5) is False  # none started
    server = subprocess.Popen(["sleep", "60"])
    pid_file.write_text(f"{server.pid}\n")
    try:
        assert stop_by_pid_file(pid_file, timeout=5) is True
        assert server.wait(timeout=1) == -15  # it ended by the SIGTERM
        assert not pid_file.exists()
        pid_file.write_text(f"{server.pid}\n")  # a stale file: its process is gone
        assert stop_by_pid_file(pid_file, timeout=5) is False
        assert not pid_file.exists()
    finally:
        server.kill()


def test_a_private_server_that_will_not_stop_is_said(tmp_path: Path) -> None:
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True);"
            " time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline()  # its handler is set
        pid_file = tmp_path / "server.pid"
        pid_file.write_text(str(stubborn.pid))
        with pytest.raises(TimeoutError, match="still runs"):
            stop_by_pid_file(pid_file, timeout=0.5)
        assert pid_file.exists()
    finally:
        stubborn.kill()
        stubborn.wait()


# --- the renderer (no stack needed) -------------------------------------------------------------


def nginx_upstream_servers(config: str, service: str) -> list[str]:
    block = config.split(f"upstream {service} {{", 1)[1].split("}", 1)[0]
    return [line.split()[1] for line in block.splitlines() if line.strip().startswith("server ")]


def test_scale_renders_one_upstream_server_and_one_program_per_replica(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, tmp_path / ".data", list(SERVICE_PORTS), parse_scale("dashboard=3"))

    nginx = render_nginx_conf(plan)
    supervisord = configparser.RawConfigParser()
    supervisord.read_string(render_supervisord_conf(plan))

    assert nginx_upstream_servers(nginx, "dashboard") == [
        "127.0.0.1:8102",
        "127.0.0.1:8202",
        "127.0.0.1:8302",
    ]
    dashboards = sorted(s for s in supervisord.sections() if s.startswith("program:dashboard"))
    assert dashboards == ["program:dashboard-0", "program:dashboard-1", "program:dashboard-2"]
    for index, section in enumerate(dashboards):
        port = 8102 + 100 * index
        assert f'LOOKOUT_DASHBOARD_PORT="{port}"' in supervisord[section]["environment"]
        assert supervisord[section]["stopasgroup"] == "true"
        assert supervisord[section]["autorestart"] == "true"
    for service in set(SERVICE_PORTS) - {"dashboard"}:
        assert nginx_upstream_servers(nginx, service) == [f"127.0.0.1:{SERVICE_PORTS[service]}"]
        assert supervisord.has_section(f"program:{service}-0")
        assert not supervisord.has_section(f"program:{service}-1")
    for program in ("tansu", "clickhouse", "nginx"):
        assert supervisord.has_section(f"program:{program}")


def test_rendered_gateway_config_is_valid_nginx(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        pytest.fail("nginx is not installed: make up installs it")
    plan = make_plan(tmp_path, tmp_path, list(SERVICE_PORTS), parse_scale("alert=2,analytics=9"))
    (tmp_path / "nginx" / "temp").mkdir(parents=True)
    (tmp_path / "logs").mkdir()
    config = tmp_path / "nginx" / "nginx.conf"
    config.write_text(render_nginx_conf(plan))

    result = subprocess.run(
        [nginx, "-t", "-c", str(config), "-p", str(tmp_path / "nginx"), "-e", str(tmp_path / "e")],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "text", ["nosuch=2", "dashboard", "dashboard=0", "dashboard=10", "dashboard=two"]
)
def test_bad_scale_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="bad scale"):
        parse_scale(text)


def test_scale_accepts_several_services() -> None:
    assert parse_scale("dashboard=2,alert=3") == {"dashboard": 2, "alert": 3}
    assert parse_scale("") == {}


# --- the running stack --------------------------------------------------------------------------


@dataclass(frozen=True)
class RunningStack:
    data_dir: Path
    state: dict[str, object]

    @property
    def services(self) -> dict[str, list[int]]:
        services = self.state["services"]
        assert isinstance(services, dict)
        return services

    def supervisor(self) -> xmlrpc.client.ServerProxy:
        transport = SupervisorTransport(None, None, f"unix://{self.state['supervisor_socket']}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def program_states(self) -> dict[str, str]:
        infos = self.supervisor().supervisor.getAllProcessInfo()
        return {info["name"]: info["statename"] for info in infos}

    def scale_text(self, **overrides: int) -> str:
        counts = {name: len(ports) for name, ports in self.services.items()} | overrides
        return ",".join(f"{name}={count}" for name, count in counts.items())

    def up(self, scale: str) -> None:
        """``make up SCALE=...`` against this stack; fails the test with the script's output."""
        result = subprocess.run(
            [sys.executable, str(STACK_DIR / "stack.py"), "up", "--scale", scale],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, "LOOKOUT_DATA_DIR": str(self.data_dir)},
        )
        assert result.returncode == 0, result.stdout + result.stderr
        self.state.update(json.loads((self.data_dir / "stack.json").read_text()))


@pytest.fixture(scope="module")
def stack() -> RunningStack:
    data_dir = Path(os.environ.get("LOOKOUT_DATA_DIR") or REPO / ".data")
    state_file = data_dir / "stack.json"
    if not state_file.is_file():
        pytest.fail(f"the local stack is not running (no {state_file}): run `make up`")
    running = RunningStack(data_dir, json.loads(state_file.read_text()))
    try:
        running.program_states()
    except (OSError, xmlrpc.client.Error) as error:
        pytest.fail(f"the local stack's supervisord does not answer ({error}): run `make up`")
    return running


@pytest.fixture(scope="module")
def gateway(servers: Servers) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=servers.gateway, timeout=10) as client:
        yield client


def test_every_service_of_the_repo_runs_in_the_stack(stack: RunningStack) -> None:
    assert sorted(stack.services) == sorted(AVAILABLE)


def test_supervisor_reports_every_program_running(stack: RunningStack) -> None:
    expected = {"tansu", "clickhouse", "nginx"} | {
        f"{service}-{index}"
        for service, ports in stack.services.items()
        for index in range(len(ports))
    }

    states = stack.program_states()

    assert set(states) == expected
    assert {name: state for name, state in states.items() if state != "RUNNING"} == {}


@pytest.mark.parametrize("service", AVAILABLE)
def test_service_is_ready_and_live_through_the_gateway(gateway: httpx.Client, service: str) -> None:
    ready = gateway.get(f"/api/{service}/readyz")
    live = gateway.get(f"/api/{service}/livez")

    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready"}
    assert live.status_code == 200, live.text


@pytest.mark.parametrize("service", AVAILABLE)
def test_service_docs_are_served_under_its_gateway_prefix(
    gateway: httpx.Client, service: str
) -> None:
    openapi = gateway.get(f"/api/{service}/openapi.json")
    docs = gateway.get(f"/api/{service}/docs")
    asyncapi = gateway.get(f"/api/{service}/asyncapi.json")

    assert openapi.status_code == 200, openapi.text
    assert "/readyz" in openapi.json()["paths"]
    assert {"url": f"/api/{service}"} in openapi.json()["servers"]
    assert docs.status_code == 200
    assert f"/api/{service}/openapi.json" in docs.text
    assert asyncapi.status_code == 200, asyncapi.text


@pytest.mark.parametrize("path", ["/api/nosuchservice/readyz", "/nothing", "/api/"])
def test_unknown_path_is_a_json_404_from_the_gateway(gateway: httpx.Client, path: str) -> None:
    response = gateway.get(path)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.headers["x-request-id"]


def test_gateway_has_its_own_health(gateway: httpx.Client) -> None:
    assert gateway.get("/healthz").status_code == 200


def test_gateway_keeps_the_callers_request_id(gateway: httpx.Client) -> None:
    request_id = uuid.uuid4().hex

    response = gateway.get(f"/api/{AVAILABLE[0]}/livez", headers={"X-Request-ID": request_id})

    assert response.headers.get_list("x-request-id") == [request_id]


def port_is_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def upstreams_answering(gateway: httpx.Client, service: str, requests: int) -> set[str]:
    """The replicas nginx tried, as it reports them: "a:1" or, after a failed try, "a:1, b:2"."""
    seen = set()
    for _ in range(requests):
        response = gateway.get(f"/api/{service}/readyz")
        assert response.status_code == 200, response.text
        seen.add(response.headers["x-lookout-upstream"])
    return seen


@pytest.mark.slow
def test_requests_through_the_gateway_reach_every_dashboard_replica(
    stack: RunningStack, gateway: httpx.Client
) -> None:
    """Scale to two dashboards (unless the stack already runs them), then scale back."""
    assert "dashboard" in stack.services, stack.services
    original = stack.scale_text()
    already_scaled = len(stack.services["dashboard"]) >= 2
    if not already_scaled:
        stack.up(stack.scale_text(dashboard=2))
    try:
        ports = stack.services["dashboard"]

        seen = upstreams_answering(gateway, "dashboard", requests=4 * len(ports))

        assert seen == {f"127.0.0.1:{port}" for port in ports}
    finally:
        if not already_scaled:
            stack.up(original)
    if not already_scaled:
        assert "dashboard-1" not in stack.program_states()
        assert not port_is_open(8202)
        assert upstreams_answering(gateway, "dashboard", requests=3) == {"127.0.0.1:8102"}


def test_a_service_that_is_down_is_a_json_503_and_the_others_go_on(
    stack: RunningStack, gateway: httpx.Client
) -> None:
    """All replicas of one service stopped: the gateway answers its routes 503 with Retry-After
    (a JSON error, not nginx's 502 page) while every other service answers as before."""
    down = "analytics"
    programs = [f"{down}-{index}" for index in range(len(stack.services[down]))]
    supervisor = stack.supervisor().supervisor
    for program in programs:
        supervisor.stopProcess(program)
    try:
        response = gateway.get(f"/api/{down}/livez")
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "service_unavailable"
        assert response.headers["retry-after"] == "5"
        assert response.headers["x-request-id"]
        for other in AVAILABLE:
            if other != down:
                assert gateway.get(f"/api/{other}/livez").status_code == 200, other
    finally:
        for program in programs:
            supervisor.startProcess(program)
    deadline = time.monotonic() + 60
    while gateway.get(f"/api/{down}/readyz").status_code != 200:
        assert time.monotonic() < deadline, f"{down} did not come back"
        time.sleep(0.2)
