"""Egress policy: which addresses a data source may make this service connect to.

Checked after DNS resolution, on every connect, before any packet is sent to the source: the
connectors resolve the host here and connect to the checked address, never to the name again (so a
DNS answer that changes between the check and the connect cannot swap it).

Refused: loopback (unless ``allow_loopback``), private and other non-global ranges (unless
``allow_private_networks``), and always link-local (cloud metadata at 169.254.169.254),
multicast, reserved and unspecified addresses, and the platform's own servers
(``platform_servers``: addresses or networks, each optionally with a port, e.g. ``10.0.0.0/8``,
``127.0.0.1:5432``, ``[::1]:9092``). A host with any refused address is refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from lookout_datasource.service.connectors.base import EgressRefused, Unreachable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class PlatformServer:
    network: Network
    port: int | None

    @classmethod
    def parse(cls, text: str) -> PlatformServer:
        """``address``, ``network/prefix``, ``address:port`` or ``[v6 address]:port``."""
        text = text.strip()
        port: int | None = None
        if text.startswith("["):
            address, _, rest = text[1:].partition("]")
            if rest.startswith(":"):
                port = int(rest[1:])
            text = address
        elif text.count(":") == 1:
            text, port_text = text.split(":")
            port = int(port_text)
        return cls(ipaddress.ip_network(text, strict=False), port)

    def matches(self, address: Address, port: int) -> bool:
        return address in self.network and (self.port is None or self.port == port)


class EgressSettings(BaseSettings):
    """The egress knobs (``<PREFIX>EGRESS_ALLOW_LOOPBACK=true`` in the local stack)."""

    egress_allow_loopback: bool = Field(
        default=False, description="Data sources may point at loopback addresses"
    )
    egress_allow_private_networks: bool = Field(
        default=False, description="Data sources may point at private (non-global) addresses"
    )
    egress_platform_servers: tuple[str, ...] = Field(
        default=(),
        description="The platform's own servers, always refused: addresses or networks, each"
        " with an optional port (10.0.0.0/8, 127.0.0.1:5432, [::1]:9092)",
    )

    @field_validator("egress_platform_servers")
    @classmethod
    def _servers_parse(cls, servers: tuple[str, ...]) -> tuple[str, ...]:
        for server in servers:
            PlatformServer.parse(server)
        return servers


@dataclass(frozen=True)
class EgressPolicy:
    allow_loopback: bool = False
    allow_private_networks: bool = False
    platform_servers: tuple[PlatformServer, ...] = field(default=())

    @classmethod
    def of(
        cls,
        *,
        allow_loopback: bool = False,
        allow_private_networks: bool = False,
        platform_servers: tuple[str, ...] | list[str] = (),
    ) -> EgressPolicy:
        return cls(
            allow_loopback=allow_loopback,
            allow_private_networks=allow_private_networks,
            platform_servers=tuple(PlatformServer.parse(entry) for entry in platform_servers),
        )

    @classmethod
    def from_settings(cls, settings: EgressSettings) -> EgressPolicy:
        return cls.of(
            allow_loopback=settings.egress_allow_loopback,
            allow_private_networks=settings.egress_allow_private_networks,
            platform_servers=settings.egress_platform_servers,
        )

    def refusal(self, address: Address, port: int) -> str | None:
        """Why ``address``:``port`` is refused, or None when it is allowed."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(server.matches(address, port) for server in self.platform_servers):
            return "one of the platform's own servers"
        if address.is_loopback:
            return None if self.allow_loopback else "a loopback address"
        if address.is_link_local:
            return "a link-local address"
        if address.is_multicast:
            return "a multicast address"
        if address.is_unspecified or address.is_reserved:
            return "a reserved address"
        if address.is_private or not address.is_global:
            return None if self.allow_private_networks else "a private address"
        return None

    def check(self, host: str, address: str, port: int) -> str:
        """``address`` when allowed, else ``EgressRefused``."""
        reason = self.refusal(ipaddress.ip_address(address.split("%", 1)[0]), port)
        if reason is not None:
            raise EgressRefused(f"{host} resolves to {reason} ({address}), which is not allowed")
        return address

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host``, every one allowed (else ``EgressRefused``); ``Unreachable``
        when the name does not resolve."""
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host.strip("[]"), port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as error:
            raise Unreachable(f"cannot resolve {host}: {error}") from None
        addresses = list(dict.fromkeys(str(entry[4][0]) for entry in found))
        if not addresses:
            raise Unreachable(f"cannot resolve {host}")
        return [self.check(host, address, port) for address in addresses]
