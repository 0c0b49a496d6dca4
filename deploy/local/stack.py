"""The local stack: Tansu, ClickHouse, the nginx gateway and every service under supervisord.

Run with the workspace's python: ``.venv/bin/python deploy/local/stack.py up|down|ps|logs|status``
(``make up`` / ``make down`` / ``make ps`` / ``make logs`` do). Configs are rendered by
``stack_config.py`` into the data dir (``.data/`` unless ``LOOKOUT_DATA_DIR`` says otherwise).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xmlrpc.client
from collections.abc import Callable, Iterator
from pathlib import Path

from stack_config import (
    CLICKHOUSE_HTTP_PORT,
    CLICKHOUSE_TCP_PORT,
    GATEWAY_PORT,
    HOST,
    KAFKA_PORT,
    POSTGRES_PORT,
    POSTGRES_SERVICES,
    SERVICE_PORTS,
    StackPlan,
    make_plan,
    parse_scale,
    render_all,
)
from stack_mariadb import (
    MARIADB_PORT,
    MariadbError,
    ensure_mariadb,
    mariadb_kind,
    stop_private_mariadb,
)
from stack_postgres import PostgresError, ensure_postgres, postgres_kind, stop_private_postgres
from stack_redis import REDIS_PORT, RedisError, ensure_redis, redis_kind, stop_private_redis
from supervisor.xmlrpc import SupervisorTransport

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("LOOKOUT_DATA_DIR") or REPO / ".data").resolve()
GATEWAY_URL = f"http://{HOST}:{GATEWAY_PORT}"
APT_PACKAGES = {
    "clickhouse-server": "clickhouse-server",
    "clickhouse-client": "clickhouse-client",
    "nginx": "nginx-light",
    # The analytics console's browser test drives Debian's Chromium with Playwright (no download).
    "chromium": "chromium",
}
RUNNING_STATES = {"RUNNING"}


class StackError(Exception):
    """Something the user must see: printed without a traceback, exit status 1."""


def log(message: str) -> None:
    print(f"[stack] {message}", flush=True)


# --- where things are ---------------------------------------------------------------------------


def supervisor_socket() -> Path:
    """``.data/supervisor.sock``, or a path in /tmp when the clone's path is too long for one."""
    path = DATA_DIR / "supervisor.sock"
    if len(str(path)) < 100:
        return path
    digest = hashlib.sha1(str(DATA_DIR).encode()).hexdigest()[:12]
    return Path("/tmp") / f"lookout-supervisor-{digest}.sock"


def available_services() -> list[str]:
    """Services whose code exists; one that has not landed yet is simply absent."""
    return [
        name
        for name in SERVICE_PORTS
        if (REPO / "services" / name / "src" / f"lookout_{name}" / "app.py").is_file()
    ]


def current_plan(scale: dict[str, int] | None = None) -> StackPlan:
    if scale is None:
        scale = read_running_scale()
    return make_plan(REPO, DATA_DIR, available_services(), scale, supervisor_socket())


def read_running_scale() -> dict[str, int]:
    """The replica counts the running stack was brought up with (from its state file)."""
    state = DATA_DIR / "stack.json"
    if not state.is_file():
        return {}
    services = json.loads(state.read_text()).get("services", {})
    return {name: len(ports) for name, ports in services.items() if name in SERVICE_PORTS}


def log_file(program: str) -> Path:
    return DATA_DIR / "logs" / f"{program}.log"


def tail(path: Path, lines: int = 25) -> str:
    if not path.is_file():
        return f"    (no log at {path})"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in text)


# --- supervisord --------------------------------------------------------------------------------


def supervisor() -> xmlrpc.client.ServerProxy:
    transport = SupervisorTransport(None, None, f"unix://{supervisor_socket()}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def supervisord_pid() -> int | None:
    """supervisord's pid when it is alive and answering on our socket."""
    pidfile = DATA_DIR / "supervisord.pid"
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
        supervisor().supervisor.getState()
    except (OSError, ValueError, xmlrpc.client.Error):
        return None
    return pid


def process_info() -> dict[str, dict[str, object]]:
    return {info["name"]: info for info in supervisor().supervisor.getAllProcessInfo()}


def start_supervisord(plan: StackPlan) -> None:
    stale = supervisor_socket()
    if stale.exists():
        stale.unlink()
    conf = plan.data_dir / "supervisord.conf"
    result = subprocess.run(
        [str(plan.venv_bin / "supervisord"), "-c", str(conf)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if result.returncode != 0:
        raise StackError(
            f"supervisord did not start:\n{result.stdout}{result.stderr}\n"
            f"{tail(DATA_DIR / 'logs' / 'supervisord.log')}"
        )
    wait_for("supervisord to answer", lambda: supervisord_pid() is not None, timeout=20)


def reread_supervisor_config() -> tuple[list[str], list[str], list[str]]:
    """``supervisorctl reread``: the programs added, changed and removed in supervisord.conf."""
    added, changed, removed = supervisor().supervisor.reloadConfig()[0]
    return added, changed, removed


def add_programs(names: list[str]) -> None:
    """Start new programs, and restart changed ones with their new config (``update``'s first half)."""
    rpc = supervisor().supervisor
    for name in names:
        if name in process_info():
            with contextlib.suppress(xmlrpc.client.Fault):  # already stopped
                rpc.stopProcessGroup(name)
            rpc.removeProcessGroup(name)
        rpc.addProcessGroup(name)


def remove_programs(names: list[str]) -> None:
    rpc = supervisor().supervisor
    for name in names:
        with contextlib.suppress(xmlrpc.client.Fault):  # already stopped
            rpc.stopProcessGroup(name)
        rpc.removeProcessGroup(name)


def nginx_workers(master: int) -> set[int]:
    workers = set()
    for entry in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(entry.read_text().rsplit(")", 1)[1].split()[1]) == master:
                workers.add(int(entry.parent.name))
    return workers


def reload_nginx(timeout: float = 15) -> None:
    """HUP the gateway and wait until its old workers (the old upstreams) have finished."""
    master = int(process_info()["nginx"]["pid"])
    old_workers = nginx_workers(master)
    supervisor().supervisor.signalProcess("nginx", "HUP")
    deadline = time.monotonic() + timeout
    while old_workers & nginx_workers(master) and time.monotonic() < deadline:
        time.sleep(0.1)
    if old_workers & nginx_workers(master):
        log(f"nginx's old workers still finish requests after {timeout:.0f}s; going on")


def start_stopped_programs() -> list[str]:
    """Start whatever is not running (a program that gave up, or one stopped by hand)."""
    rpc = supervisor().supervisor
    started = []
    for name, info in process_info().items():
        if info["statename"] in {"STOPPED", "EXITED", "FATAL", "BACKOFF"}:
            with contextlib.suppress(xmlrpc.client.Fault):
                rpc.startProcess(name, False)
                started.append(name)
    return started


# --- readiness ----------------------------------------------------------------------------------


def port_open(port: int, host: str = HOST) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def http_get(url: str, timeout: float = 3) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except (OSError, urllib.error.URLError) as error:
        return 0, str(error)


def wait_for(what: str, condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


# A readiness check returns None when its part is ready, else what it saw instead.
Check = Callable[[], str | None]


def expect_port(port: int) -> Check:
    return lambda: None if port_open(port) else f"nothing listens on {HOST}:{port}"


def expect_http(url: str, body: str | None = None) -> Check:
    def check() -> str | None:
        status, text = http_get(url)
        if status == 200 and (body is None or text == body):
            return None
        return f"GET {url} → {status or 'no answer'}: {text.strip()[:300]}"

    return check


def readiness_checks(plan: StackPlan) -> dict[str, tuple[str, Check]]:
    """Part → (the program whose log explains it, its check)."""
    clickhouse = f"http://{HOST}:{CLICKHOUSE_HTTP_PORT}/?query=SELECT%201"
    checks: dict[str, tuple[str, Check]] = {
        "tansu": ("tansu", expect_port(KAFKA_PORT)),
        "clickhouse": ("clickhouse", expect_http(clickhouse, body="1\n")),
        "gateway": ("nginx", expect_http(f"{GATEWAY_URL}/healthz")),
    }
    for replica in plan.all_replicas():
        checks[replica.program] = (
            replica.program,
            expect_http(f"http://{HOST}:{replica.port}/readyz"),
        )
    for service in plan.services():
        checks[f"{service} through the gateway"] = (
            f"{service}-0",
            expect_http(f"{GATEWAY_URL}/api/{service}/readyz"),
        )
    return checks


def failing(checks: dict[str, tuple[str, Check]]) -> dict[str, str]:
    """Part → what its check saw, for every part that is not ready."""
    results = {name: check() for name, (_, check) in checks.items()}
    return {name: result for name, result in results.items() if result is not None}


def wait_until_ready(plan: StackPlan, timeout: float) -> None:
    """Every part ready, or a StackError naming each part that is not, with its log's tail."""
    checks = readiness_checks(plan)
    pending = dict(checks)
    problems: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while pending:
        problems = failing(pending)
        pending = {name: pending[name] for name in problems}
        fatal = [name for name, info in process_info().items() if info["statename"] == "FATAL"]
        if fatal:
            raise StackError(
                f"supervisord gave up restarting {', '.join(fatal)}\n"
                + "\n".join(f"--- {log_file(name)}\n{tail(log_file(name))}" for name in fatal)
            )
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if pending:
        report = "\n".join(
            f"--- {name}: {problems[name]}\n    last lines of {log_file(program)}:\n"
            f"{tail(log_file(program), 12)}"
            for name, (program, _) in pending.items()
        )
        raise StackError(f"not ready after {timeout:.0f}s: {', '.join(pending)}\n{report}")


# --- system packages, migrations ----------------------------------------------------------------


def privileged(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return command
    if shutil.which("sudo"):
        return ["sudo", *command]
    raise StackError(f"need root to run: {' '.join(command)}")


def apt_install(packages: list[str]) -> None:
    log(f"installing Debian packages: {' '.join(packages)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", *packages]):
        if subprocess.run(privileged(command), env=env, stdin=subprocess.DEVNULL).returncode != 0:
            raise StackError(f"failed: {' '.join(command)}")


def find_binary(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


def ensure_system_packages() -> None:
    missing = [package for binary, package in APT_PACKAGES.items() if find_binary(binary) is None]
    if missing:
        apt_install(missing)


def run_migrations(plan: StackPlan) -> None:
    """``lookout-migrate`` for each PostgreSQL service, all at once; a failure shows its output."""
    services = [service for service in plan.services() if service in POSTGRES_SERVICES]
    running = {
        service: subprocess.Popen(
            [str(plan.venv_bin / "lookout-migrate"), service],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
        )
        for service in services
    }
    failures = []
    for service, process in running.items():
        output, _ = process.communicate(timeout=300)
        if process.returncode != 0:
            failures.append(f"--- lookout-migrate {service} (exit {process.returncode})\n{output}")
    if failures:
        raise StackError("migrations failed:\n" + "\n".join(failures))


# --- commands -----------------------------------------------------------------------------------


def write_configs(plan: StackPlan) -> set[Path]:
    """Write every rendered file; return the ones whose content changed."""
    for directory in (
        plan.log_dir,
        plan.data_dir / "nginx" / "temp",
        plan.data_dir / "clickhouse" / "data",
        plan.data_dir / "clickhouse" / "tmp",
        plan.data_dir / "clickhouse" / "user_files",
        plan.data_dir / "clickhouse" / "format_schemas",
    ):
        directory.mkdir(parents=True, exist_ok=True)
    changed = set()
    for path, content in render_all(plan).items():
        if not path.is_file() or path.read_text() != content:
            path.write_text(content)
            changed.add(path)
    return changed


def check_nginx_config(plan: StackPlan) -> None:
    nginx_dir = plan.data_dir / "nginx"
    result = subprocess.run(
        [
            find_binary("nginx") or "nginx",
            "-t",
            "-q",
            "-c",
            str(nginx_dir / "nginx.conf"),
            "-p",
            str(nginx_dir),
            "-e",
            str(plan.log_dir / "nginx-error.log"),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise StackError(f"the rendered nginx.conf is invalid:\n{result.stderr}")


def check_ports_free(plan: StackPlan) -> None:
    ports = {
        GATEWAY_PORT: "gateway (nginx)",
        CLICKHOUSE_HTTP_PORT: "clickhouse http",
        CLICKHOUSE_TCP_PORT: "clickhouse native",
        KAFKA_PORT: "tansu",
        **{replica.port: replica.program for replica in plan.all_replicas()},
    }
    taken = [f"{port} ({part})" for port, part in ports.items() if port_open(port)]
    if taken:
        raise StackError(
            "ports already in use by a process this stack did not start: "
            + ", ".join(taken)
            + "\n(see `ss -ltnp`; stop it, or `make down` if it is an older stack of this clone)"
        )


def command_up(scale: dict[str, int], timeout: float) -> None:
    ensure_system_packages()
    try:
        postgres = ensure_postgres(DATA_DIR, apt_install=apt_install)
        mariadb = ensure_mariadb(DATA_DIR, apt_install=apt_install)
        redis = ensure_redis(DATA_DIR, apt_install=apt_install)
    except (PostgresError, MariadbError, RedisError) as error:
        raise StackError(str(error)) from error
    plan = current_plan(scale)
    if not plan.tansu.is_file():
        raise StackError(f"no Tansu binary at {plan.tansu}: run `uv sync --frozen` (make up does)")
    run_migrations(plan)

    was_running = supervisord_pid() is not None
    if not was_running:
        check_ports_free(plan)
    changed = write_configs(plan)
    check_nginx_config(plan)
    if not was_running:
        log("starting supervisord")
        start_supervisord(plan)
    else:
        reconfigure(plan, changed, timeout)
    log("waiting until every part is ready")
    wait_until_ready(plan, timeout)
    print_summary(plan, postgres, mariadb, redis)


def reconfigure(plan: StackPlan, changed: set[Path], timeout: float) -> None:
    """Bring a running stack to ``plan`` without dropping a request: new replicas first, then the
    gateway's new upstreams, and only then the replicas nobody routes to any more."""
    added, modified, removed = [], [], []
    if plan.data_dir / "supervisord.conf" in changed:
        added, modified, removed = reread_supervisor_config()
    if added or modified:
        log(f"starting {' '.join(added + modified)}")
        add_programs(modified + added)
        wait_until_ready(plan, timeout)
    if plan.data_dir / "nginx" / "nginx.conf" in changed and "nginx" not in added + modified:
        log("reloading nginx")
        reload_nginx()
    if removed:
        log(f"stopping {' '.join(removed)}")
        remove_programs(removed)
    if plan.data_dir / "clickhouse" / "config.xml" in changed and "clickhouse" not in modified:
        log("restarting clickhouse (its config changed)")
        supervisor().supervisor.stopProcess("clickhouse")
        supervisor().supervisor.startProcess("clickhouse", False)
    restarted = start_stopped_programs()
    if restarted:
        log(f"started again: {' '.join(restarted)}")
    if not changed and not restarted:
        log("already up, nothing changed")


def print_summary(plan: StackPlan, postgres: str, mariadb: str, redis: str) -> None:
    relative_data = os.path.relpath(plan.data_dir, Path.cwd())
    print(f"\nLookout local stack is up ({len(plan.programs())} programs under supervisord)")
    print(f"  gateway     {GATEWAY_URL}   (its own health: {GATEWAY_URL}/healthz)")
    for service in plan.services():
        ports = " ".join(f":{replica.port}" for replica in plan.service_replicas(service))
        print(
            f"  {service:<11} {GATEWAY_URL}/api/{service}/   docs {GATEWAY_URL}/api/{service}/docs"
            f"   replicas {ports}"
        )
    print(
        f"  ClickHouse  http://{HOST}:{CLICKHOUSE_HTTP_PORT} (native {HOST}:{CLICKHOUSE_TCP_PORT})"
    )
    print(
        f"  Kafka       {HOST}:{KAFKA_PORT} (Tansu, in memory: a restart empties the topics and "
        "starts their offsets at 0 again; ingestion stores their new events)"
    )
    print(f"  PostgreSQL  postgresql://postgres@{HOST}:{POSTGRES_PORT} ({postgres})")
    print(f"  MariaDB     mysql://lookout@{HOST}:{MARIADB_PORT} ({mariadb})")
    print(f"  Redis       redis://{HOST}:{REDIS_PORT} ({redis})")
    print(f"  logs        {relative_data}/logs/   (make logs NAME=<program or service>)")
    print(f"  supervisor  .venv/bin/supervisorctl -c {relative_data}/supervisord.conf status")
    print(f"  state       {relative_data}/stack.json")


def our_process_groups(pids: Iterator[int]) -> set[int]:
    """Every live process whose process group is one of ``pids`` (supervisord's children)."""
    groups = set(pids)
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.getpgid(int(entry.name)) in groups:
                found.add(int(entry.name))
    return found


def command_down(timeout: float = 60) -> None:
    pid = supervisord_pid()
    if pid is None:
        log("supervisord is not running")
    else:
        children = [int(info["pid"]) for info in process_info().values() if info["pid"]]
        log("stopping every program and supervisord")
        supervisor().supervisor.shutdown()
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            raise StackError(f"supervisord (pid {pid}) still running after {timeout:.0f}s")
        leftovers = our_process_groups(iter(children))
        for leftover in leftovers:  # a program that ignored its stop signal: never leave it behind
            with contextlib.suppress(OSError):
                os.kill(leftover, signal.SIGKILL)
        if leftovers:
            log(f"killed leftover processes: {sorted(leftovers)}")
    if stop_private_postgres(DATA_DIR):
        log("stopped the private PostgreSQL cluster")
    if stop_private_mariadb(DATA_DIR):
        log("stopped the private MariaDB server")
    if stop_private_redis(DATA_DIR):
        log("stopped the private Redis server")
    log("down")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # A zombie (exited, not yet reaped by its parent) is gone for our purposes.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def command_ps() -> int:
    if supervisord_pid() is None:
        print("stack not running (make up)")
        return 3
    ports = {replica.program: replica.port for replica in current_plan().all_replicas()}
    ports.update(tansu=KAFKA_PORT, clickhouse=CLICKHOUSE_HTTP_PORT, nginx=GATEWAY_PORT)
    print(f"{'PROGRAM':<14} {'STATE':<9} {'PID':>7}  {'PORT':>5}  DETAIL")
    for name, info in sorted(process_info().items()):
        print(
            f"{name:<14} {info['statename']:<9} {info['pid'] or '-':>7}  "
            f"{ports.get(name, ''):>5}  {info['description']}"
        )
    print(f"postgres       {postgres_kind(DATA_DIR)} on {HOST}:{POSTGRES_PORT}")
    print(f"mariadb        {mariadb_kind(DATA_DIR)} on {HOST}:{MARIADB_PORT}")
    print(f"redis          {redis_kind(DATA_DIR)} on {HOST}:{REDIS_PORT}")
    return 0


def command_status() -> int:
    """0: running and every part ready; 3: not running; 1: running but something is not ready."""
    if supervisord_pid() is None:
        print("stack not running")
        return 3
    plan = current_plan()
    checks = readiness_checks(plan)
    not_ready = failing(checks)
    for _ in range(5):  # a busy replica may miss one check: look again before calling it unready
        if not not_ready:
            break
        time.sleep(1)
        not_ready = failing({name: checks[name] for name in not_ready})
    not_running = [name for name, info in process_info().items() if info["statename"] != "RUNNING"]
    for problem in not_running:
        print(f"not running: {problem}")
    for name, problem in not_ready.items():
        print(f"not ready: {name}: {problem}")
    if not_ready or not_running:
        return 1
    print_summary(plan, postgres_kind(DATA_DIR), mariadb_kind(DATA_DIR), redis_kind(DATA_DIR))
    return 0


def command_logs(name: str | None, lines: int, follow: bool) -> None:
    logs = DATA_DIR / "logs"
    if name is None:
        files = sorted(logs.glob("*.log"))
    else:
        files = sorted({*logs.glob(f"{name}.log"), *logs.glob(f"{name}-*.log")})
    if not files:
        raise StackError(f"no logs for {name!r} in {logs}")
    os.execvp("tail", ["tail", "-n", str(lines), *(["-F"] if follow else []), *map(str, files)])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up", help="start (or reconfigure) the stack and wait until it is ready"
    )
    up.add_argument("--scale", default="", help="replicas per service, e.g. dashboard=2,alert=2")
    up.add_argument("--timeout", type=float, default=180, help="seconds to wait for readiness")
    commands.add_parser("down", help="stop everything the stack started")
    commands.add_parser("ps", help="the supervisor's programs and their state")
    commands.add_parser("status", help="exit 0 when up and ready, 3 when not running, 1 otherwise")
    logs = commands.add_parser("logs", help="tail the logs of a program, a service, or everything")
    logs.add_argument("name", nargs="?", help="e.g. dashboard, dashboard-1, nginx, clickhouse")
    logs.add_argument("-n", "--lines", type=int, default=50)
    logs.add_argument("-f", "--follow", action="store_true")
    args = parser.parse_args()
    try:
        if args.command == "up":
            command_up(parse_scale(args.scale), args.timeout)
        elif args.command == "down":
            command_down()
        elif args.command == "ps":
            return command_ps()
        elif args.command == "status":
            return command_status()
        elif args.command == "logs":
            command_logs(args.name, args.lines, args.follow)
    except (StackError, PostgresError, ValueError) as error:
        print(f"[stack] error: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
