"""An open-loop HTTP load generator for benchmarks: bounded, time-limited, loopback only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp


@dataclass(frozen=True)
class LoadResult:
    latencies_ms: list[float]
    errors: int
    achieved_rate: float


async def open_loop(
    next_url: Callable[[int], str],
    *,
    headers: dict[str, str],
    rate: float,
    duration_s: float,
    expected_status: int = 200,
) -> LoadResult:
    """Start ``rate`` GETs per second for ``duration_s`` on schedule, whatever earlier ones do.

    aiohttp, not httpx: the load generator shares the machine, and aiohttp costs it several times
    less CPU. Only loopback addresses are accepted.
    """
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=64)
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(url: str) -> None:
            nonlocal errors
            started = time.perf_counter()
            try:
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    if response.status != expected_status:
                        errors += 1
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

        total = int(rate * duration_s)
        begin = time.perf_counter()
        tasks = []
        for n in range(total):
            url = next_url(n)
            if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
                raise ValueError(f"benchmarks load loopback only, not {url}")
            delay = begin + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(url)))
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=duration_s + 30)
        elapsed = time.perf_counter() - begin
    return LoadResult(latencies, errors, total / elapsed)
