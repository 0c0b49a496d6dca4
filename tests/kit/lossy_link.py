"""A TCP link in front of a Kafka-protocol broker that can lose produce acknowledgements.

While ``losing_acks`` is set, a Produce request still reaches the broker (which stores its records),
but its response never reaches the client: the link drops it and cuts the client's connection, as a
network failure between the broker's write and the client's read would. This is the one way the
outbox relay sends an event twice (``docs/architecture.md``, "Delivery is at least once").
"""

from __future__ import annotations

import asyncio
import contextlib
import struct

from lookout_testing.broker import free_port

PRODUCE = 0  # the Kafka protocol's api key of Produce


class LossyLink:
    def __init__(self, broker_port: int) -> None:
        self.port = free_port()
        self.broker_port = broker_port
        self.losing_acks = False
        self.acks_lost = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            broker_in, broker_out = await asyncio.open_connection("127.0.0.1", self.broker_port)
        except OSError:
            client_out.close()
            self._tasks.discard(task)
            return
        unacknowledged: set[int] = set()  # correlation ids of produce requests to be lost

        async def requests() -> None:
            while frame := await _frame(client_in):
                api_key, _, correlation = struct.unpack_from(">hhi", frame, 4)
                if api_key == PRODUCE and self.losing_acks:
                    unacknowledged.add(correlation)
                broker_out.write(frame)
                await broker_out.drain()

        async def responses() -> None:
            while frame := await _frame(broker_in):
                (correlation,) = struct.unpack_from(">i", frame, 4)
                if correlation in unacknowledged:
                    self.acks_lost += 1
                    return  # stored by the broker, never acknowledged: the connection drops
                client_out.write(frame)
                await client_out.drain()

        pumps = [asyncio.create_task(requests()), asyncio.create_task(responses())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for writer in (client_out, broker_out):
                writer.close()
                with contextlib.suppress(OSError, ConnectionError):
                    await writer.wait_closed()
            self._tasks.discard(task)


async def _frame(reader: asyncio.StreamReader) -> bytes:
    """One size-prefixed Kafka frame (with its size), or ``b""`` at the end of the stream."""
    try:
        head = await reader.readexactly(4)
        (size,) = struct.unpack(">i", head)
        return head + await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError):
        return b""
