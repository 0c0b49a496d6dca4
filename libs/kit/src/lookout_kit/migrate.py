"""Versioned SQL migrations per service database, applied with yoyo-migrations under its lock.

A service's migrations are the kit's (the outbox) followed by the service's own
``lookout_<service>/migrations/*.sql``. Several replicas may apply them at once: yoyo's lock table
serialises them and the second finds nothing to do.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
from importlib import resources
from pathlib import Path

from yoyo import get_backend, read_migrations

from lookout_kit.database import ensure_database

logger = logging.getLogger("lookout.migrate")


def migration_dirs(service_package: str | None) -> list[str]:
    """The kit's migrations followed by the service package's own ``migrations`` folder."""
    dirs = [str(resources.files("lookout_kit") / "migrations")]
    if service_package:
        package = importlib.import_module(service_package)
        assert package.__file__ is not None
        service_dir = Path(package.__file__).parent / "migrations"
        if service_dir.is_dir() and str(service_dir) not in dirs:
            dirs.append(str(service_dir))
    return dirs


def _yoyo_url(dsn: str) -> str:
    scheme, rest = dsn.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return dsn


def apply_migrations_sync(dsn: str, dirs: list[str]) -> list[str]:
    """Apply every pending migration; return the ids applied (empty when up to date)."""
    backend = get_backend(_yoyo_url(dsn))
    try:
        migrations = read_migrations(*dirs)
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return [migration.id for migration in pending]
    finally:
        backend.connection.close()


async def apply_migrations(dsn: str, service_package: str | None) -> list[str]:
    await ensure_database(dsn)
    applied = await asyncio.to_thread(apply_migrations_sync, dsn, migration_dirs(service_package))
    if applied:
        logger.info("applied migrations", extra={"migrations": applied})
    return applied


def main() -> None:
    """``lookout-migrate <service>``: create the service's database and apply its migrations."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("service", help="service name, e.g. dashboard")
    args = parser.parse_args()
    settings_module = importlib.import_module(f"lookout_{args.service}.settings")
    settings = settings_module.Settings()
    if settings.database_dsn is None:
        print(f"{args.service}: no PostgreSQL database, nothing to migrate")
        return
    applied = asyncio.run(apply_migrations(settings.database_dsn, f"lookout_{args.service}"))
    print(f"{args.service}: applied {len(applied)} migration(s) {applied}")
