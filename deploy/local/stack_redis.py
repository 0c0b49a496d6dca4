"""Redis for the local stack (the datasource's result cache): the machine's server when one
answers on 127.0.0.1:6379, else a private one.

Order: a server already answering PING on 127.0.0.1:6379 is used as is (and left running by
``down``); else (the ``redis-server`` package installed first when there is no ``redis-server``)
a private server is started with its files in ``<data dir>/redis`` (no persistence: it is a cache)
and ``down`` stops it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from stack_config import HOST, stop_by_pid_file

REDIS_PORT = 6379


class RedisError(Exception):
    """Redis could not be made to answer; the message says why."""


def private_home(data_dir: Path) -> Path:
    return data_dir / "redis"


def redis_answers(port: int = REDIS_PORT) -> bool:
    """Whether a Redis server answers PING on the port."""
    try:
        with socket.create_connection((HOST, port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def redis_kind(data_dir: Path) -> str:
    if (private_home(data_dir) / "redis.pid").is_file():
        return f"private server in {private_home(data_dir)}"
    return "the machine's server"


def start_private_redis(data_dir: Path, binary: str, port: int = REDIS_PORT) -> None:
    home = private_home(data_dir)
    home.mkdir(parents=True, exist_ok=True)
    log = home / "redis.log"
    subprocess.run(
        [
            binary,
            "--port", str(port),
            "--bind", HOST,
            "--dir", str(home),
            "--pidfile", str(home / "redis.pid"),
            "--logfile", str(log),
            "--daemonize", "yes",
            "--save", "",
            "--appendonly", "no",
        ],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not redis_answers(port):
        if time.monotonic() > deadline:
            detail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
            raise RedisError(f"started a private Redis in {home}, but it does not answer\n{detail}")
        time.sleep(0.2)


def ensure_redis(data_dir: Path, *, apt_install: Callable[[list[str]], None]) -> str:
    """Make Redis answer on 127.0.0.1:6379; return which one it is."""
    if redis_answers():
        return redis_kind(data_dir)
    if shutil.which("redis-server") is None:
        apt_install(["redis-server"])
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisError("installed redis-server but found no redis-server binary")
    start_private_redis(data_dir, binary)
    return redis_kind(data_dir)


def stop_private_redis(data_dir: Path, timeout: float = 30) -> bool:
    """Stop the private server if this stack started one; never touch the machine's server."""
    try:
        return stop_by_pid_file(private_home(data_dir) / "redis.pid", timeout)
    except TimeoutError as error:
        raise RedisError(f"the private Redis: {error}") from None
