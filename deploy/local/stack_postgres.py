"""PostgreSQL for the local stack: the machine's server when one answers, else a private cluster.

Order: a server already answering on 127.0.0.1:5432 is used as is; else the machine's Debian
cluster is started (``pg_ctlcluster``) and left running by ``down`` (it is the machine's); else a
private trust-auth cluster is created under ``<data dir>/postgres`` and ``down`` stops it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from stack_config import HOST, POSTGRES_PORT


class PostgresError(Exception):
    """PostgreSQL could not be made to answer; the message says why."""


def postgres_answers() -> bool:
    try:
        with psycopg.connect(
            host=HOST, port=POSTGRES_PORT, user="postgres", dbname="postgres", connect_timeout=2
        ) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def private_cluster(data_dir: Path) -> Path:
    return data_dir / "postgres"


def postgres_kind(data_dir: Path) -> str:
    if (private_cluster(data_dir) / "postmaster.pid").is_file():
        return f"private cluster in {private_cluster(data_dir)}"
    return "the machine's server"


def _wait_until_answers(what: str, log: Path | None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not postgres_answers():
        if time.monotonic() > deadline:
            detail = ""
            if log is not None and log.is_file():
                detail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise PostgresError(
                f"{what}, but PostgreSQL does not answer on {HOST}:{POSTGRES_PORT}{detail}"
            )
        time.sleep(0.3)


def _as_postgres_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the ``postgres`` user then."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _binaries() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


def _start_machine_cluster() -> bool:
    clusters = sorted(glob.glob("/etc/postgresql/*/main"))
    if not clusters or shutil.which("pg_ctlcluster") is None:
        return False
    version = Path(clusters[-1]).parent.name
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"]
    result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0 and "already running" not in result.stderr:
        raise PostgresError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    _wait_until_answers(f"started the machine's cluster {version}/main", None)
    return True


def _start_private_cluster(data_dir: Path, binaries: Path) -> None:
    cluster = private_cluster(data_dir)
    log = data_dir / "logs" / "postgres.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    if not (cluster / "PG_VERSION").is_file():
        cluster.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(cluster, "postgres", "postgres")
        cluster.chmod(0o700)
        initdb = [
            str(binaries / "initdb"),
            "-D",
            str(cluster),
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
            "--no-locale",
        ]
        result = subprocess.run(_as_postgres_user(initdb), capture_output=True, text=True)
        if result.returncode != 0:
            raise PostgresError(f"initdb failed:\n{result.stdout}{result.stderr}")
        with (cluster / "postgresql.conf").open("a") as config:
            # TCP on loopback only; no unix socket, so no /var/run path is needed.
            config.write(
                f"\nlisten_addresses = '{HOST}'\nport = {POSTGRES_PORT}\n"
                "unix_socket_directories = ''\nmax_connections = 300\n"
                "shared_buffers = 256MB\nfsync = off\nsynchronous_commit = off\n"
            )
    if os.geteuid() == 0:
        shutil.chown(log, "postgres", "postgres")
    start = [
        str(binaries / "pg_ctl"),
        "-D",
        str(cluster),
        "-l",
        str(log),
        "-w",
        "-t",
        "60",
        "start",
    ]
    result = subprocess.run(
        _as_postgres_user(start), capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise PostgresError(
            f"pg_ctl start failed:\n{result.stdout}{result.stderr}\n"
            + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        )
    _wait_until_answers(f"started the private cluster in {cluster}", log)


def ensure_postgres(data_dir: Path, *, apt_install: Callable[[list[str]], None]) -> str:
    """Make PostgreSQL answer on 127.0.0.1:5432; return which one it is."""
    if postgres_answers():
        return postgres_kind(data_dir)
    if _start_machine_cluster():
        return "the machine's server (started with pg_ctlcluster)"
    binaries = _binaries()
    if binaries is None:
        apt_install(["postgresql"])
        if _start_machine_cluster():  # Debian's package creates a cluster of its own
            return "the machine's server (installed and started)"
        binaries = _binaries()
        if binaries is None:
            raise PostgresError("installed postgresql but found no /usr/lib/postgresql/*/bin")
    _start_private_cluster(data_dir, binaries)
    return postgres_kind(data_dir)


def stop_private_postgres(data_dir: Path) -> bool:
    """Stop the private cluster if this stack started one; never touch the machine's server."""
    cluster = private_cluster(data_dir)
    binaries = _binaries()
    if not (cluster / "postmaster.pid").is_file() or binaries is None:
        return False
    stop = [str(binaries / "pg_ctl"), "-D", str(cluster), "-m", "fast", "-w", "-t", "60", "stop"]
    result = subprocess.run(_as_postgres_user(stop), capture_output=True, text=True)
    if result.returncode != 0:
        raise PostgresError(f"pg_ctl stop failed:\n{result.stdout}{result.stderr}")
    return True
