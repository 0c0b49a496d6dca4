"""The kit's ``EgressTransport``: an ``httpx`` request goes only to an address the egress policy
allows, resolved and checked before any packet is sent, to the checked address (the ``Host``
header keeping the name)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiohttp import web
from lookout_kit.egress import EgressPolicy, EgressRefused, EgressTransport, Unresolvable
from lookout_testing.broker import free_port


@asynccontextmanager
async def server() -> AsyncIterator[tuple[int, list[str]]]:
    """An HTTP server on loopback, and the ``Host`` header of each request it was sent."""
    hosts: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        hosts.append(request.headers["Host"])
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port, hosts
    finally:
        await runner.cleanup()


async def test_an_allowed_name_is_sent_to_its_checked_address_with_its_host_header() -> None:
    async with (
        server() as (port, hosts),
        httpx.AsyncClient(transport=EgressTransport(EgressPolicy(allow_loopback=True))) as http,
    ):
        response = await http.get(f"http://localhost:{port}/hook")
    assert response.status_code == 200
    assert str(response.request.url) == f"http://localhost:{port}/hook"
    assert hosts == [f"localhost:{port}"]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_a_refused_address_gets_no_request(host: str) -> None:
    async with (
        server() as (port, hosts),
        httpx.AsyncClient(transport=EgressTransport(EgressPolicy())) as http,
    ):
        with pytest.raises(EgressRefused, match="loopback"):
            await http.get(f"http://{host}:{port}/hook")
        refused_platform = EgressPolicy.of(
            allow_loopback=True, platform_servers=[f"127.0.0.1:{port}"]
        )
        async with httpx.AsyncClient(transport=EgressTransport(refused_platform)) as platform:
            with pytest.raises(EgressRefused, match="platform"):
                await platform.get(f"http://{host}:{port}/hook")
    assert hosts == []


async def test_a_name_that_does_not_resolve_is_unresolvable() -> None:
    async with httpx.AsyncClient(transport=EgressTransport(EgressPolicy())) as http:
        with pytest.raises(Unresolvable):
            await http.get("http://nothing-here.lookout.test/hook")


async def test_the_request_goes_to_the_checked_address_not_the_name_again() -> None:
    """A name whose next answer differs (DNS rebinding) cannot swap the address checked."""
    loop = asyncio.get_running_loop()
    original = loop.getaddrinfo
    answers = ["127.0.0.1", "127.0.0.2"]  # the second: no server there

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in ("rebinding.lookout.test", b"rebinding.lookout.test"):
            address = answers.pop(0) if len(answers) > 1 else answers[0]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]
        return await original(host, port, *args, **kwargs)

    loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]
    try:
        async with (
            server() as (port, hosts),
            httpx.AsyncClient(transport=EgressTransport(EgressPolicy(allow_loopback=True))) as http,
        ):
            response = await http.get(f"http://rebinding.lookout.test:{port}/hook")
    finally:
        del loop.getaddrinfo
    assert response.status_code == 200
    assert hosts == [f"rebinding.lookout.test:{port}"]


async def test_each_https_name_has_a_pool_of_its_own() -> None:
    """A pool is keyed by the address it connects to: shared, it would hand a connection whose
    certificate was checked for one name to a request for another name on that address."""
    transport = EgressTransport(EgressPolicy(allow_loopback=True))
    try:

        async def pool(url: str) -> httpx.AsyncBaseTransport:
            request = httpx.Request("GET", url)
            return await transport._transport_for(request, request.url.host)

        first, second = await pool("https://a.lookout.test/"), await pool("https://b.lookout.test/")
        assert first is not second
        assert await pool("https://a.lookout.test/other") is first
        assert await pool("http://a.lookout.test/") is transport.inner  # no certificate to mix up
        for number in range(EgressTransport.TLS_HOSTS):
            await pool(f"https://n{number}.lookout.test/")
        assert await pool("https://a.lookout.test/") is not first  # the oldest pool was closed
    finally:
        await transport.aclose()
