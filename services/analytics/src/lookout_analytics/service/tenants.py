"""Reactions to a tenant's life: a deleted tenant's usage is removed from ClickHouse."""

from __future__ import annotations

import logging
from uuid import UUID

from lookout_kit.clickhouse import ClickHouse

from lookout_analytics.repository.tenants import delete_tenant_rows

logger = logging.getLogger("lookout.analytics.tenants")


async def on_tenant_deleted(clickhouse: ClickHouse, tenant_id: UUID) -> None:
    """Remove the tenant's rows from ``dashboard_events``, ``query_metrics`` and
    ``user_activity`` (mutations the server applies in the background)."""
    await delete_tenant_rows(clickhouse, tenant_id)
    logger.info("tenant's analytics rows deleted", extra={"tenant_id": str(tenant_id)})
