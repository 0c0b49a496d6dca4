"""The ClickHouse migrations of the ingestion service: versioned .sql files, applied once each.

A deliberately small runner: the maintained migration tools do not support ClickHouse 18.16 (the
local server), and the job is small. Each file's statements are idempotent (``IF NOT EXISTS``; an
``ADD COLUMN`` whose column is there already counts as done, as 18.16 has no ``IF NOT EXISTS`` for
it), so two replicas starting at once, or a crash between a file and its record, do no harm.
"""

from __future__ import annotations

import logging
from importlib import resources

from lookout_kit.clickhouse import ClickHouse, ClickHouseError, quote

logger = logging.getLogger("lookout.ingestion.migrate")

MIGRATIONS_TABLE = "ingestion_migrations"
MIGRATIONS_PACKAGE = "lookout_ingestion.migrations_clickhouse"


def migration_files() -> list[tuple[str, str]]:
    """Every (version, SQL text), in version order; the version is the file name without .sql."""
    folder = resources.files(MIGRATIONS_PACKAGE)
    files = sorted(
        (entry.name.removesuffix(".sql"), entry.read_text())
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    )
    return files


def statements(sql: str) -> list[str]:
    """The statements of a file: split on ``;`` at a line's end, comment lines dropped.

    (ClickHouse's HTTP interface runs one statement per request.)"""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";\n") if part.strip(" \n;")]


def already_applied(statement: str, error: Exception) -> bool:
    """Whether ``statement`` failed only because it was applied before: an ``ADD COLUMN`` whose
    column exists (the server's words, on 18.16 and on current ClickHouse alike)."""
    return " ADD COLUMN " in f" {statement.upper()} " and (
        "column with this name already exists" in str(error)
    )


async def apply_migrations(clickhouse: ClickHouse) -> list[str]:
    """Apply the files not yet recorded in ``ingestion_migrations``; return their versions."""
    await clickhouse.execute(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
        "(version String, applied_at DateTime DEFAULT now()) "
        "ENGINE = MergeTree() ORDER BY version"
    )
    done = {
        row["version"] for row in await clickhouse.rows(f"SELECT version FROM {MIGRATIONS_TABLE}")
    }
    applied: list[str] = []
    for version, sql in migration_files():
        if version in done:
            continue
        for statement in statements(sql):
            try:
                await clickhouse.execute(statement.rstrip(";"))
            except ClickHouseError as error:
                if not already_applied(statement, error):
                    raise
        await clickhouse.execute(
            f"INSERT INTO {MIGRATIONS_TABLE} (version) VALUES ({quote(version)})"
        )
        applied.append(version)
        logger.info("applied clickhouse migration", extra={"version": version})
    return applied
