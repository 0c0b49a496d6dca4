"""A private PostgreSQL server for tests that stop and start the database (outages)."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
from pathlib import Path

import asyncpg

from lookout_testing.broker import free_port
from lookout_testing.waiting import wait_until


def _binaries() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[4])
    )
    if not found:
        raise RuntimeError("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
    return Path(found[-1]).parent


def _as_postgres_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: then they run as the ``postgres`` user."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


class PrivatePostgres:
    """A trust-auth cluster in ``home`` on a free loopback port, owned by one test."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self._binaries = _binaries()

    @property
    def dsn(self) -> str:
        """The server's DSN, without a database (``<dsn>/<name>``)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def _run(self, *command: str) -> None:
        result = subprocess.run(
            _as_postgres_user(list(command)),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed:\n{result.stdout}{result.stderr}")

    def _init(self) -> None:
        data = self.home / "data"
        data.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres", "postgres")
            shutil.chown(data, "postgres", "postgres")
        data.chmod(0o700)
        self._run(
            str(self._binaries / "initdb"),
            "-D",
            str(data),
            "--auth=trust",
            "--username=postgres",
            "--no-locale",
            "--encoding=UTF8",
        )
        with (data / "postgresql.conf").open("a") as config:
            config.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                "unix_socket_directories = ''\nfsync = off\n"
            )

    async def start(self) -> None:
        if not (self.home / "data" / "PG_VERSION").is_file():
            await asyncio.to_thread(self._init)
        await asyncio.to_thread(
            self._run,
            str(self._binaries / "pg_ctl"),
            "-D",
            str(self.home / "data"),
            "-l",
            str(self.home / "server.log"),
            "-w",
            "start",
        )

        async def answers() -> bool:
            try:
                connection = await asyncpg.connect(f"{self.dsn}/postgres", timeout=1)
            except (OSError, asyncpg.PostgresError):
                return False
            await connection.close()
            return True

        await wait_until(answers, timeout=30, interval=0.1, message="private postgres")

    async def stop(self) -> None:
        """Stop at once (``-m immediate``): connections break as in a crash."""
        if (self.home / "data" / "postmaster.pid").is_file():
            await asyncio.to_thread(
                self._run,
                str(self._binaries / "pg_ctl"),
                "-D",
                str(self.home / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            )
