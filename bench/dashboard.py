"""``make bench-dashboard``: ``GET /dashboards/{id}`` and a filtered list, p50/p99 at 300 requests/s
through the gateway, with 100,000 dashboards in the tenant — and, in the same run, at the same rate
and through the same gateway, the floor: a bare ASGI app (``bench/floor.py``, one uvicorn process
like one replica, one asyncpg pool) doing the same read and the same event insert as the GET. The
ratio service p99 / floor p99 is what the service's own stack costs.

The benchmark signs up a tenant of its own through identity, writes its 100,000 dashboards straight
into the dashboard service's database (COPY: the point is reading them), loads the gateway from
127.0.0.1 with a bounded, time-limited open loop, and deletes the tenant and its dashboards at the end.
Each measurement runs several times; the median is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lookout_dashboard.settings import Settings
from lookout_kit.database import create_pool

from bench.accounts import signup
from bench.load import open_loop
from bench.report import figure, median, percentile, write

GATEWAY = "http://127.0.0.1:8080/api/dashboard"
FLOOR = "http://127.0.0.1:8080/api/bench-floor"
ROOT = Path(__file__).resolve().parent.parent
FLOOR_PORT = 8199  # deploy/local/stack_config.py BENCH_FLOOR_PORT: the gateway routes there
IDENTITY = "http://127.0.0.1:8101"  # sign-up straight to identity (see bench/identity.py)
TAGS = [f"team-{n}" for n in range(40)] + ["finance", "ops", "sales", "marketing", "exec"]
WORDS = (
    "revenue costs churn funnel growth latency errors signups retention pipeline forecast".split()
)


def document(n: int) -> dict[str, Any]:
    return {
        "layout": {"items": [{"component_id": "chart", "x": 0, "y": 0, "w": 24, "h": 6}]},
        "components": [
            {"id": "chart", "type": "chart", "chart_type": "line", "title": f"Chart {n}"}
        ],
        "filters": [],
    }


async def seed(tenant_id: uuid.UUID, owner_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    settings = Settings()
    assert settings.database_dsn is not None
    conn = await asyncpg.connect(settings.database_dsn)
    # COPY is binary: jsonb's binary form is a version byte, then the JSON text.
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: b"\x01" + json.dumps(value).encode(),
        decoder=lambda data: json.loads(data[1:]),
        schema="pg_catalog",
        format="binary",
    )
    rng = random.Random(7)
    ids = [uuid.uuid4() for _ in range(count)]
    rows = []
    for n, dashboard_id in enumerate(ids):
        doc = document(n)
        name = f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {n}"
        tags = rng.sample(TAGS, 2)
        rows.append(
            (
                dashboard_id,
                name,
                f"{rng.choice(WORDS)} by {rng.choice(WORDS)}",
                tenant_id,
                owner_id,
                doc["layout"],
                doc["components"],
                doc["filters"],
                tags,
                n % 10 == 0,
            )
        )
    try:
        await conn.copy_records_to_table(
            "dashboards",
            records=rows,
            columns=[
                "id",
                "name",
                "description",
                "tenant_id",
                "owner_id",
                "layout",
                "components",
                "filters",
                "tags",
                "is_public",
            ],
        )
        # Settle after the bulk load, as a long-lived table would be: vacuumed (no autovacuum
        # pass starting mid-measurement), analysed, and its pages written out.
        await conn.execute("VACUUM (ANALYZE) dashboards")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return ids


async def remove(tenant_id: uuid.UUID) -> None:
    settings = Settings()
    assert settings.database_dsn is not None
    pool = await create_pool(settings.database_dsn, min_size=1, max_size=1)
    await pool.execute("DELETE FROM dashboards WHERE tenant_id = $1", tenant_id)
    await pool.close()


def claims(token: str) -> dict[str, Any]:
    """The access token's claims (read, not verified: the benchmark made it)."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


async def start_floor(account: dict[str, str]) -> subprocess.Popen[bytes]:
    """The floor under uvicorn, as the benchmark's tenant admin; ready when it answers."""
    env = {
        **os.environ,
        "BENCH_FLOOR_TENANT": account["tenant_id"],
        "BENCH_FLOOR_USER": account["user_id"],
        "BENCH_FLOOR_ROLE": claims(account["token"])["role"],
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.floor:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(FLOOR_PORT),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(100):
            try:
                await client.get(f"http://127.0.0.1:{FLOOR_PORT}/dashboards/none")
                return process
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError("the floor did not start")


def replicas() -> int:
    """How many dashboard replicas the running local stack has (``make up SCALE=dashboard=N``)."""
    state = Path(__file__).resolve().parent.parent / ".data" / "stack.json"
    try:
        return len(json.loads(state.read_text())["services"]["dashboard"])
    except (OSError, KeyError, ValueError):
        return 1


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dashboards", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    async with httpx.AsyncClient(base_url=IDENTITY, timeout=30) as client:
        account = await signup(client, prefix="benchdash")
    tenant_id, owner_id = uuid.UUID(account["tenant_id"]), uuid.UUID(account["user_id"])
    headers = {"Authorization": f"Bearer {account['token']}"}
    try:
        ids = await seed(tenant_id, owner_id, args.dashboards)
        rng = random.Random(11)
        figures: dict[str, list[float]] = {
            k: [] for k in ("get_p50", "get_p99", "list_p50", "list_p99", "floor_p50", "floor_p99")
        }
        floor = await start_floor(account)
        errors: list[float] = []
        # Warm-up, not measured: connections opened, caches filled, code paths taken once.
        await open_loop(
            lambda _n: f"{GATEWAY}/dashboards/{rng.choice(ids)}",
            headers=headers,
            rate=args.rate,
            duration_s=5,
        )
        await open_loop(  # the floor's warm-up
            lambda _n: f"{FLOOR}/dashboards/{rng.choice(ids)}",
            headers={},
            rate=args.rate,
            duration_s=3,
        )
        for run in range(args.runs):
            got = await open_loop(
                lambda _n: f"{GATEWAY}/dashboards/{rng.choice(ids)}",
                headers=headers,
                rate=args.rate,
                duration_s=args.duration,
            )
            listed = await open_loop(
                lambda _n: (
                    f"{GATEWAY}/dashboards?tags={rng.choice(TAGS)}&sort=-updated_at&limit=20"
                ),
                headers=headers,
                rate=args.rate,
                duration_s=args.duration,
            )
            floored = await open_loop(
                lambda _n: f"{FLOOR}/dashboards/{rng.choice(ids)}",
                headers={},
                rate=args.rate,
                duration_s=args.duration,
            )
            figures["floor_p50"].append(percentile(floored.latencies_ms, 50))
            figures["floor_p99"].append(percentile(floored.latencies_ms, 99))
            figures["get_p50"].append(percentile(got.latencies_ms, 50))
            figures["get_p99"].append(percentile(got.latencies_ms, 99))
            figures["list_p50"].append(percentile(listed.latencies_ms, 50))
            figures["list_p99"].append(percentile(listed.latencies_ms, 99))
            errors.append(got.errors + listed.errors + floored.errors)
            print(
                f"run {run + 1}: get p50 {figures['get_p50'][-1]:.1f} p99 {figures['get_p99'][-1]:.1f} ms"
                f" ({got.achieved_rate:.0f}/s); list p50 {figures['list_p50'][-1]:.1f}"
                f" p99 {figures['list_p99'][-1]:.1f} ms ({listed.achieved_rate:.0f}/s);"
                f" floor p50 {figures['floor_p50'][-1]:.1f} p99 {figures['floor_p99'][-1]:.1f} ms;"
                f" errors {errors[-1]}"
            )
    finally:
        if "floor" in locals():
            floor.terminate()
            floor.wait(10)
        await remove(tenant_id)
        async with httpx.AsyncClient(base_url=IDENTITY, timeout=30) as client:
            await client.delete(f"/tenants/{tenant_id}", headers=headers)

    write(
        "dashboard",
        {
            "dashboards_in_tenant": args.dashboards,
            "rate_per_s": args.rate,
            "duration_s": args.duration,
            "runs": args.runs,
            "list_query": "tags=<one of 45>&sort=-updated_at&limit=20",
            "caller": "tenant admin (role permission dashboard:admin)",
            "path": "client → nginx gateway → dashboard replicas",
            "floor": "client → nginx gateway → bench/floor.py (bare ASGI, uvicorn, one pool)",
            "dashboard_replicas": replicas(),
        },
        {
            "get_p50_ms": figure(median(figures["get_p50"]), "ms", "lower"),
            "get_p99_ms": figure(median(figures["get_p99"]), "ms", "lower", target=25),
            "list_p50_ms": figure(median(figures["list_p50"]), "ms", "lower"),
            "list_p99_ms": figure(median(figures["list_p99"]), "ms", "lower", target=25),
            "floor_get_p50_ms": figure(median(figures["floor_p50"]), "ms", "lower"),
            "floor_get_p99_ms": figure(median(figures["floor_p99"]), "ms", "lower"),
            "get_p99_floor_ratio": figure(
                median(figures["get_p99"]) / median(figures["floor_p99"]),
                "ratio",
                "lower",
                target=2.0,
            ),
            "errors": figure(median(errors), "requests", "lower", target=0),
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
