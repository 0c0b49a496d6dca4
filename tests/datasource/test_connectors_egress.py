"""The egress policy: which addresses a data source may reach, checked after DNS resolution and
before any packet is sent (a refused address gets no connection attempt)."""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from collections.abc import AsyncIterator

import pytest
from lookout_datasource.service.connectors import registry
from lookout_datasource.service.connectors.base import ConnectorError
from lookout_datasource.service.egress import EgressPolicy


class CountingServer:
    """A TCP listener on loopback that counts the connections it accepts."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()

    async def __aenter__(self) -> CountingServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def listener() -> AsyncIterator[CountingServer]:
    async with CountingServer() as server:
        yield server


def _config(kind: str, host: str, port: int) -> object:
    return registry.config_model(kind).model_validate(
        {"host": host, "port": port, "database": "db", "user": "someone", "password": "pw"}
    )


@pytest.mark.parametrize("kind", registry.KINDS)
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::ffff:127.0.0.1"])
async def test_a_refused_address_gets_no_connection_attempt(
    listener: CountingServer, kind: str, host: str
) -> None:
    connector = registry.connector(kind, EgressPolicy())
    config = _config(kind, host, listener.port)
    for attempt in (
        connector.test(config),  # type: ignore[arg-type]
        connector.execute(
            config,  # type: ignore[arg-type]
            "SELECT 1",
            {},
            row_limit=1,
            timeout_s=1,
            execution_id=uuid.uuid4(),
        ),
        connector.cancel(config, uuid.uuid4()),  # type: ignore[arg-type]
    ):
        with pytest.raises(ConnectorError) as raised:
            await attempt
        assert raised.value.code == "egress_refused"
        assert "loopback" in raised.value.message
    assert listener.connections == 0


@pytest.mark.parametrize("kind", registry.KINDS)
async def test_an_allowed_loopback_is_reached(listener: CountingServer, kind: str) -> None:
    """The control: with loopback allowed the same source does get a connection."""
    connector = registry.connector(kind, EgressPolicy(allow_loopback=True))
    config = _config(kind, "127.0.0.1", listener.port)
    with pytest.raises(ConnectorError):
        await connector.test(config)  # type: ignore[arg-type]
    assert listener.connections >= 1


@pytest.mark.parametrize("kind", registry.KINDS)
async def test_the_platforms_own_servers_are_refused_even_on_loopback(
    listener: CountingServer, kind: str
) -> None:
    policy = EgressPolicy.of(allow_loopback=True, platform_servers=[f"127.0.0.1:{listener.port}"])
    connector = registry.connector(kind, policy)
    with pytest.raises(ConnectorError) as raised:
        await connector.test(_config(kind, "localhost", listener.port))  # type: ignore[arg-type]
    assert raised.value.code == "egress_refused"
    assert "platform" in raised.value.message
    assert listener.connections == 0


@pytest.mark.parametrize(
    ("address", "policy", "refused"),
    [
        ("127.0.0.1", EgressPolicy(), True),
        ("::1", EgressPolicy(), True),
        ("::1", EgressPolicy(allow_loopback=True), False),
        ("::ffff:127.0.0.1", EgressPolicy(), True),
        ("10.1.2.3", EgressPolicy(), True),
        ("172.16.0.1", EgressPolicy(allow_loopback=True), True),
        ("192.168.1.1", EgressPolicy(allow_private_networks=True), False),
        ("100.64.0.1", EgressPolicy(), True),
        ("fd00::1", EgressPolicy(), True),
        ("169.254.169.254", EgressPolicy(allow_private_networks=True, allow_loopback=True), True),
        ("fe80::1", EgressPolicy(allow_private_networks=True), True),
        ("224.0.0.1", EgressPolicy(allow_private_networks=True), True),
        ("0.0.0.0", EgressPolicy(allow_private_networks=True, allow_loopback=True), True),
        ("240.0.0.1", EgressPolicy(allow_private_networks=True), True),
        ("8.8.8.8", EgressPolicy(), False),
        ("2001:4860:4860::8888", EgressPolicy(), False),
        ("8.8.8.8", EgressPolicy.of(platform_servers=["8.8.8.0/24"]), True),
        ("8.8.8.8", EgressPolicy.of(platform_servers=["8.8.8.8:5432"]), True),
        ("8.8.8.8", EgressPolicy.of(platform_servers=["8.8.8.8:9000"]), False),
    ],
)
def test_which_addresses_are_refused(address: str, policy: EgressPolicy, refused: bool) -> None:
    assert (policy.refusal(ipaddress.ip_address(address), 5432) is not None) is refused


async def test_a_name_that_does_not_resolve_is_unreachable() -> None:
    connector = registry.connector("postgresql", EgressPolicy())
    with pytest.raises(ConnectorError) as raised:
        await connector.test(_config("postgresql", "no-such-host.invalid", 5432))  # type: ignore[arg-type]
    assert raised.value.code == "unreachable"
