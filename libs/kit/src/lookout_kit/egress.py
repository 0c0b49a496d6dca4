"""Egress policy: which addresses a user's configuration (a data source, an alert's webhook) may make
a service connect to.

Checked after DNS resolution, on every connect, before any packet is sent: a caller resolves the
host here and connects to the checked address, never to the name again (so a DNS answer that
changes between the check and the connect cannot swap it). ``EgressTransport`` does so for an
``httpx`` client.

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
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Self

import httpx
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from lookout_kit.errors import DomainError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class EgressRefused(DomainError):
    """The host resolves to an address the policy refuses (the message says which and why)."""

    status_code = 422
    code = "egress_refused"


class Unresolvable(DomainError):
    """The host's name does not resolve."""

    status_code = 422
    code = "unresolvable"


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
        default=False, description="Users' targets may point at loopback addresses"
    )
    egress_allow_private_networks: bool = Field(
        default=False, description="Users' targets may point at private (non-global) addresses"
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
    """What may be connected to. A service whose callers expect errors of their own overrides
    ``refused`` and ``unresolvable`` (the datasource's connectors raise their ``ConnectorError``s)."""

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
    ) -> Self:
        return cls(
            allow_loopback=allow_loopback,
            allow_private_networks=allow_private_networks,
            platform_servers=tuple(PlatformServer.parse(entry) for entry in platform_servers),
        )

    @classmethod
    def from_settings(cls, settings: EgressSettings) -> Self:
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

    def refused(self, message: str) -> Exception:
        """The error of a refused address."""
        return EgressRefused(message)

    def unresolvable(self, message: str) -> Exception:
        """The error of a name that does not resolve."""
        return Unresolvable(message)

    def check(self, host: str, address: str, port: int) -> str:
        """``address`` when allowed, else ``refused``."""
        reason = self.refusal(ipaddress.ip_address(address.split("%", 1)[0]), port)
        if reason is not None:
            raise self.refused(f"{host} resolves to {reason} ({address}), which is not allowed")
        return address

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host``, every one allowed (else ``refused``); ``unresolvable`` when
        the name does not resolve."""
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host.strip("[]"), port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as error:
            raise self.unresolvable(f"cannot resolve {host}: {error}") from None
        addresses = list(dict.fromkeys(str(entry[4][0]) for entry in found))
        if not addresses:
            raise self.unresolvable(f"cannot resolve {host}")
        return [self.check(host, address, port) for address in addresses]


def is_address(host: str) -> bool:
    """Whether ``host`` is an IP address (a URL's ``[v6]`` included) rather than a name."""
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


class EgressTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport that sends a request only where ``policy`` allows: the URL's host is
    resolved and each address checked before anything is sent (``EgressRefused``, ``Unresolvable``
    otherwise: no packet reaches a refused address), then the request goes to the first checked
    address that accepts a connection, never to the name again. The ``Host`` header and TLS (SNI and
    the certificate's check) keep the name. Redirects are the client's to follow: each is a new
    request, checked again.

    HTTPS goes through a connection pool per host name (the last ``TLS_HOSTS`` names): a pool is
    keyed by the address it connects to, so one shared pool would hand a connection whose
    certificate was checked for one name to a request for another name on the same address."""

    TLS_HOSTS = 64

    def __init__(self, policy: EgressPolicy, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpx.AsyncHTTPTransport()
        self._shared_inner = inner is not None
        self._tls: OrderedDict[str, httpx.AsyncBaseTransport] = OrderedDict()

    async def _transport_for(self, request: httpx.Request, host: str) -> httpx.AsyncBaseTransport:
        if self._shared_inner or request.url.scheme != "https" or is_address(host):
            return self.inner
        transport = self._tls.get(host)
        if transport is None:
            transport = self._tls[host] = httpx.AsyncHTTPTransport()
            if len(self._tls) > self.TLS_HOSTS:
                await self._tls.popitem(last=False)[1].aclose()
        self._tls.move_to_end(host)
        return transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        addresses = await self.policy.resolve(host, port)
        transport = await self._transport_for(request, host)
        original = request.url
        if request.url.scheme == "https" and not is_address(host):
            request.extensions = {**request.extensions, "sni_hostname": host}
        for attempt, address in enumerate(addresses, start=1):
            request.url = original.copy_with(host=address)
            try:
                return await transport.handle_async_request(request)
            except httpx.ConnectError:
                if attempt == len(addresses):  # else the host's next (checked) address
                    raise
            finally:
                request.url = original
        raise httpx.ConnectError(f"cannot reach {host}:{port}", request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()
        for transport in self._tls.values():
            await transport.aclose()
        self._tls.clear()
