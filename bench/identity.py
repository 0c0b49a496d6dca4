"""``make bench-identity``: login latency (argon2id as configured), token verification cost, and
``GET /me`` latency at 300 requests/s through the gateway.

Everything goes to the local stack only (127.0.0.1), bounded in requests and time. The benchmark
signs up a tenant of its own and deletes it at the end. Each measurement runs several times; the
median is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lookout_identity.settings import Settings
from lookout_kit.auth import Authenticator

from bench.accounts import PASSWORD, signup
from bench.load import open_loop
from bench.report import figure, median, percentile, write

GATEWAY = "http://127.0.0.1:8080/api/identity"
# Sign-up and logins go straight to identity's first replica: the gateway sets X-Forwarded-For to
# the client's address (127.0.0.1 here), which the API fuzz may have throttled; identity trusts the
# header from 127.0.0.1, so the bench logs in "from" an address of its own.
IDENTITY = "http://127.0.0.1:8101"


async def login_latencies_ms(client: httpx.AsyncClient, username: str, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        response = await client.post("/auth/login", json={"login": username, "password": PASSWORD})
        latencies.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return latencies


async def verification_us(token: str, iterations: int, *, cached: bool) -> float:
    """Cost of checking a token: ``cached`` as on a client's repeated requests (the verifier
    remembers a verified token until it expires), or the first time (signature and claims)."""
    settings = Settings()
    auth = Authenticator.from_jwks_url(
        f"{GATEWAY}/.well-known/jwks.json",
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    await auth.verifier.verify_access(token)  # warm the JWKS cache
    started = time.perf_counter()
    for _ in range(iterations):
        if not cached:
            auth.verifier.forget_verified()
        await auth.verifier.verify_access(token)
    return (time.perf_counter() - started) / iterations * 1e6


async def me_at_rate(token: str, rate: float, duration_s: float) -> tuple[list[float], int, float]:
    result = await open_loop(
        lambda _n: f"{GATEWAY}/me",
        headers={"Authorization": f"Bearer {token}"},
        rate=rate,
        duration_s=duration_s,
    )
    return result.latencies_ms, result.errors, result.achieved_rate


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--logins", type=int, default=40)
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--verifications", type=int, default=5_000)
    args = parser.parse_args()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    address = {"X-Forwarded-For": f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"}
    async with httpx.AsyncClient(
        base_url=IDENTITY, timeout=10, limits=limits, headers=address
    ) as client:
        account = await signup(client)
        admin_headers = {"Authorization": f"Bearer {account['token']}"}
        try:
            first_verify_us: list[float] = []
            login_p50, login_p99, verify_us, me_p50, me_p99, me_rate, me_errors = (
                [],
                [],
                [],
                [],
                [],
                [],
                [],
            )
            for _ in range(args.runs):
                logins = await login_latencies_ms(client, account["username"], args.logins)
                login_p50.append(percentile(logins, 50))
                login_p99.append(percentile(logins, 99))
                verify_us.append(
                    await verification_us(account["token"], args.verifications, cached=True)
                )
                first_verify_us.append(
                    await verification_us(account["token"], args.verifications, cached=False)
                )
                latencies, errors, achieved = await me_at_rate(
                    account["token"], args.rate, args.duration
                )
                me_p50.append(percentile(latencies, 50))
                me_p99.append(percentile(latencies, 99))
                me_rate.append(achieved)
                me_errors.append(errors)
        finally:
            await client.delete(f"/tenants/{account['tenant_id']}", headers=admin_headers)
    settings = Settings()
    write(
        "identity",
        {
            "runs": args.runs,
            "logins_per_run": args.logins,
            "me_rate_per_s": args.rate,
            "me_duration_s": args.duration,
            "verifications_per_run": args.verifications,
            "argon2id": {
                "time_cost": settings.argon2_time_cost,
                "memory_cost_kib": settings.argon2_memory_cost_kib,
                "parallelism": settings.argon2_parallelism,
            },
            "signature": "EdDSA (Ed25519)",
            "path": "client → nginx gateway → identity-0 (one replica)",
        },
        {
            "login_p50_ms": figure(median(login_p50), "ms", "lower"),
            "login_p99_ms": figure(median(login_p99), "ms", "lower"),
            "token_verification_us": figure(median(verify_us), "µs/request", "lower"),
            "token_first_verification_us": figure(median(first_verify_us), "µs/token", "lower"),
            "me_p50_ms": figure(median(me_p50), "ms", "lower"),
            "me_p99_ms": figure(median(me_p99), "ms", "lower"),
            "me_achieved_rate": figure(median(me_rate), "req/s", "higher", target=args.rate),
            "me_errors": figure(median(me_errors), "requests", "lower", target=0),
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
