"""The gateway limits identity's open endpoints per client address (nginx ``limit_req``): a flood
from one address is answered 429 by the gateway itself (the kit's JSON error, ``Retry-After``),
never a 5xx, and another address is not affected.

The flood comes from addresses of its own on loopback (127.0.0.2, .3), so the rest of the suite,
which calls from 127.0.0.1, keeps its own allowance."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from lookout_testing.servers import Servers

# Requests at once: a wave, sent again until the gateway refuses (its burst is OPEN_BURST in
# deploy/local/stack_config.py, refilled at OPEN_RATE_PER_S), at most MAX_WAVES times.
WAVE = 150
MAX_WAVES = 20


@asynccontextmanager
async def client_from(servers: Servers, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(
        local_address=address, limits=httpx.Limits(max_connections=WAVE)
    )
    async with httpx.AsyncClient(
        transport=transport, base_url=servers.gateway, timeout=30
    ) as client:
        yield client


async def empty_sign_up(client: httpx.AsyncClient) -> httpx.Response:
    # Refused by identity's input check (422) when it gets there: the cheapest open request.
    return await client.post("/api/identity/signup", json={})


def refused_by_gateway(response: httpx.Response) -> bool:
    # The gateway's own answer names no upstream; identity's own 429 (its limit per replica) does.
    return response.status_code == 429 and not response.headers.get("X-Lookout-Upstream")


async def test_a_flood_of_one_address_is_limited_by_the_gateway(servers: Servers) -> None:
    responses: list[httpx.Response] = []
    async with client_from(servers, "127.0.0.2") as flooder:
        for _ in range(MAX_WAVES):
            responses += await asyncio.gather(*(empty_sign_up(flooder) for _ in range(WAVE)))
            if any(refused_by_gateway(response) for response in responses):
                break
    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {422, 429}, sorted(set(statuses))
    by_gateway = [response for response in responses if refused_by_gateway(response)]
    assert by_gateway, "no request was refused by the gateway"
    refused = by_gateway[0]
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["X-Request-ID"]
    assert refused.json()["error"]["code"] == "rate_limited"

    async with client_from(servers, "127.0.0.3") as other:
        answered = await empty_sign_up(other)
    assert answered.status_code == 422, answered.text
    assert answered.headers.get("X-Lookout-Upstream")
