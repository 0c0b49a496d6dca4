"""A deleted tenant's rows out of the three tables and the rollups of ``query_metrics``: one
``ALTER TABLE … DELETE`` mutation each (ClickHouse 18.16 and current ClickHouse alike; no
lightweight deletes on 18.16). The one write of the service, with the tenant in the ``WHERE``; a mutation runs in the background on the
server, and running one again for the same tenant is harmless."""

from __future__ import annotations

from uuid import UUID

from lookout_kit.clickhouse import ClickHouse, bind

from lookout_analytics.repository.scope import ROLLUPS, TABLES


async def delete_tenant_rows(clickhouse: ClickHouse, tenant_id: UUID) -> None:
    for table in TABLES + ROLLUPS:
        await clickhouse.execute(
            bind(
                f"ALTER TABLE {table} DELETE WHERE tenant_id = {{tenant:UUID}}",
                {"tenant": tenant_id},
            )
        )
