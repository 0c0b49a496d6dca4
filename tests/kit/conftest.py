"""Fixtures the kit's outbox and relay tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from lookout_kit.database import create_pool


@pytest.fixture
async def pool(outbox_database: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the test's outbox database (tests that need another pool define their own)."""
    pool = await create_pool(outbox_database, min_size=1, max_size=4)
    yield pool
    await pool.close()
