"""MariaDB for the local stack (the datasource's ``mysql`` kind): the machine's server when one
answers, else the machine's service started, else a private server.

Order: a server already answering on 127.0.0.1:3306 is used as is; else the machine's MariaDB
service is started (``/etc/init.d/mariadb``) and left running by ``down``; else (the
``mariadb-server`` package installed first when no ``mariadbd`` is there) a private server is
initialised in ``<data dir>/mariadb`` and ``down`` stops it. Whichever it is, a ``lookout`` user
on 127.0.0.1 with no password and every privilege (with GRANT OPTION: the tests create a database
and a user of their own per test, ``lookout_testing.mysql``) is made to exist, through root over
TCP or root's unix socket.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import asyncmy
from asyncmy.errors import MySQLError, OperationalError
from stack_config import HOST, stop_by_pid_file

MARIADB_PORT = 3306
ADMIN_USER = "lookout"
MACHINE_SOCKETS = (Path("/run/mysqld/mysqld.sock"), Path("/var/run/mysqld/mysqld.sock"))


class MariadbError(Exception):
    """MariaDB could not be made to answer; the message says why."""


def private_home(data_dir: Path) -> Path:
    return data_dir / "mariadb"


def _run(
    user: str,
    statements: tuple[str, ...] = (),
    *,
    port: int = MARIADB_PORT,
    unix_socket: Path | None = None,
) -> None:
    """Log in (over TCP, or root's unix socket) and run ``statements``; ``MySQLError`` if not."""

    async def run() -> None:
        if unix_socket is not None:
            where: dict[str, object] = {"unix_socket": str(unix_socket)}
        else:
            where = {"host": HOST, "port": port, "password": ""}
        connection = await asyncmy.connect(user=user, connect_timeout=2, **where)
        try:
            async with connection.cursor() as cursor:
                for statement in statements:
                    await cursor.execute(statement)
        finally:
            connection.close()

    try:
        asyncio.run(run())
    except (OSError, TimeoutError) as error:
        raise OperationalError(2003, str(error) or "no answer") from error


def mariadb_answers(port: int = MARIADB_PORT) -> bool:
    """Whether a server speaks on the port (a refused login still counts: it answered)."""
    try:
        _run(ADMIN_USER, port=port)
    except OperationalError as error:
        return bool(error.args) and error.args[0] in (1044, 1045, 1130, 1698)
    except MySQLError:
        return False
    return True


def mariadb_kind(data_dir: Path) -> str:
    if (private_home(data_dir) / "mariadb.pid").is_file():
        return f"private server in {private_home(data_dir)}"
    return "the machine's server"


def _wait_until_answers(what: str, log: Path | None, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not mariadb_answers(port):
        if time.monotonic() > deadline:
            detail = ""
            if log is not None and log.is_file():
                detail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise MariadbError(f"{what}, but MariaDB does not answer on {HOST}:{port}{detail}")
        time.sleep(0.3)


def ensure_admin_user(sockets: tuple[Path, ...], port: int = MARIADB_PORT) -> None:
    """Make ``lookout``@127.0.0.1 (no password, every privilege) exist, as root."""
    try:
        _run(ADMIN_USER, port=port)
        return
    except MySQLError:
        pass
    statements = (
        f"CREATE USER IF NOT EXISTS '{ADMIN_USER}'@'{HOST}' IDENTIFIED BY ''",
        f"GRANT ALL PRIVILEGES ON *.* TO '{ADMIN_USER}'@'{HOST}' WITH GRANT OPTION",
    )
    problems = []
    for unix_socket in (None, *sockets):
        try:
            _run("root", statements, port=port, unix_socket=unix_socket)
            return
        except MySQLError as error:
            problems.append(str(error))
    raise MariadbError(f"cannot log in as root to create the {ADMIN_USER} user: {problems}")


def _server_binary() -> str | None:
    for name in ("mariadbd", "mysqld"):
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
        if found:
            return found
    return None


def _start_machine_service() -> bool:
    script = Path("/etc/init.d/mariadb")
    if not script.is_file():
        return False
    result = subprocess.run(
        [str(script), "start"], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        return False
    _wait_until_answers("started the machine's MariaDB service", None, MARIADB_PORT)
    return True


def start_private_mariadb(data_dir: Path, binary: str, port: int = MARIADB_PORT) -> None:
    home = private_home(data_dir)
    data = home / "data"
    log = home / "server.log"
    as_root = os.geteuid() == 0
    home.mkdir(parents=True, exist_ok=True)
    if as_root:
        shutil.chown(home, "mysql", "mysql")
    if not (data / "mysql").is_dir():
        install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        if install is None:
            raise MariadbError("no mariadb-install-db to initialise a private MariaDB")
        command = [
            install,
            "--no-defaults",
            f"--datadir={data}",
            "--auth-root-authentication-method=socket",
        ]
        command += ["--skip-test-db", "--user=mysql"] if as_root else ["--skip-test-db"]
        result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise MariadbError(f"mariadb-install-db failed:\n{result.stdout}{result.stderr}")
    command = [
        binary,
        "--no-defaults",  # not the machine's my.cnf (its paths, its port)
        f"--datadir={data}",
        f"--port={port}",
        f"--bind-address={HOST}",
        f"--socket={home / 'mysqld.sock'}",
        f"--pid-file={home / 'mariadb.pid'}",
        f"--log-error={log}",
        "--skip-name-resolve",
    ]
    if as_root:
        command.append("--user=mysql")
    subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _wait_until_answers(f"started a private MariaDB in {home}", log, port)
    ensure_admin_user((home / "mysqld.sock",), port)


def ensure_mariadb(data_dir: Path, *, apt_install: Callable[[list[str]], None]) -> str:
    """Make MariaDB answer on 127.0.0.1:3306 with the ``lookout`` user; return which one it is."""
    if mariadb_answers():
        ensure_admin_user((private_home(data_dir) / "mysqld.sock", *MACHINE_SOCKETS))
        return mariadb_kind(data_dir)
    if _server_binary() is None:
        apt_install(["mariadb-server"])
    if _start_machine_service():
        ensure_admin_user(MACHINE_SOCKETS)
        return "the machine's server (started with /etc/init.d/mariadb)"
    binary = _server_binary()
    if binary is None:
        raise MariadbError("installed mariadb-server but found no mariadbd")
    start_private_mariadb(data_dir, binary)
    return mariadb_kind(data_dir)


def stop_private_mariadb(data_dir: Path, timeout: float = 60) -> bool:
    """Stop the private server if this stack started one; never touch the machine's server."""
    try:
        return stop_by_pid_file(private_home(data_dir) / "mariadb.pid", timeout)
    except TimeoutError as error:
        raise MariadbError(f"the private MariaDB: {error}") from None
