"""Re-sealing stored secrets under the secret box's primary key, and ``lookout-secrets``, the
command that does it for one column of a service's database:

    lookout-secrets reencrypt identity --table signing_keys --column private_key_encrypted --id-column kid

Rows are read in batches in id order (keyset pagination), each batch in one transaction under
``FOR UPDATE``: a value is replaced only by itself re-sealed, and a writer of the same row waits for
the batch instead of being overwritten. Values already under the primary key are left alone, so the
command may be run again (or stopped and run again) at any time. Every value's context is
``row_context(table, column, row_id)``, the one the service sealed it with. Identifiers are checked
against a strict pattern and quoted (they cannot be bound parameters); values are bound.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import re
import sys
from dataclasses import dataclass

import asyncpg

from lookout_kit.errors import DomainError
from lookout_kit.secret_box import SecretBox, SecretBoxError, SecretBoxSettings, row_context

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Reencrypted:
    scanned: int
    reencrypted: int


def _quoted(name: str) -> str:
    if not IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a plain lower-case SQL identifier")
    return f'"{name}"'


async def reencrypt_column(
    conn: asyncpg.Connection,
    box: SecretBox,
    *,
    table: str,
    column: str,
    id_column: str,
    batch_size: int = 500,
) -> Reencrypted:
    """Re-seal under ``box``'s primary key every non-null value of ``table.column`` that is under
    another key. A value that cannot be opened (unknown key, altered, not a sealed secret) stops the
    run with a ``SecretBoxError`` naming its row; the batches before it stay done."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    table_sql, column_sql, id_sql = _quoted(table), _quoted(column), _quoted(id_column)
    select = f"SELECT {id_sql} AS row_id, {column_sql} AS sealed FROM {table_sql} WHERE {column_sql} IS NOT NULL"
    first_batch = f"{select} ORDER BY {id_sql} LIMIT $1 FOR UPDATE"
    next_batch = f"{select} AND {id_sql} > $2 ORDER BY {id_sql} LIMIT $1 FOR UPDATE"
    update = f"UPDATE {table_sql} SET {column_sql} = $2 WHERE {id_sql} = $1"
    scanned = reencrypted = 0
    last_id: object = None
    while True:
        async with conn.transaction():
            if last_id is None:
                rows = await conn.fetch(first_batch, batch_size)
            else:
                rows = await conn.fetch(next_batch, batch_size, last_id)
            changes = []
            for row in rows:
                sealed = row["sealed"]
                try:
                    if box.is_current(sealed):
                        continue
                    resealed = box.reencrypt(
                        sealed, context=row_context(table, column, row["row_id"])
                    )
                except SecretBoxError as error:
                    where = f"{table}.{column}, row {row['row_id']}"
                    raise type(error)(f"{error.message} ({where})") from None
                # A bytea column gets bytes back, a text column text.
                changes.append(
                    (row["row_id"], resealed.encode() if isinstance(sealed, bytes) else resealed)
                )
            if changes:
                await conn.executemany(update, changes)
        scanned += len(rows)
        reencrypted += len(changes)
        if len(rows) < batch_size:
            return Reencrypted(scanned=scanned, reencrypted=reencrypted)
        last_id = rows[-1]["row_id"]


async def _reencrypt(args: argparse.Namespace) -> int:
    settings = importlib.import_module(f"lookout_{args.service}.settings").Settings()
    if not isinstance(settings, SecretBoxSettings):
        print(f"error: {args.service} keeps no secrets (no SecretBoxSettings)", file=sys.stderr)
        return 2
    dsn = getattr(settings, "database_dsn", None)
    if dsn is None:
        print(f"error: {args.service} has no database configured", file=sys.stderr)
        return 2
    conn = await asyncpg.connect(dsn)
    try:
        done = await reencrypt_column(
            conn,
            settings.secret_box(),
            table=args.table,
            column=args.column,
            id_column=args.id_column,
            batch_size=args.batch_size,
        )
    except DomainError as error:
        print(f"error: {error.message} ({error.code})", file=sys.stderr)
        return 1
    finally:
        await conn.close()
    print(
        f"{args.table}.{args.column}: {done.reencrypted} of {done.scanned} secrets re-sealed "
        f"under key {settings.secret_primary_kid!r}"
    )
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="lookout-secrets", description="Stored secrets of a service's database."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    reencrypt = commands.add_parser(
        "reencrypt", help="re-seal a column's secrets that are not under the primary key"
    )
    reencrypt.add_argument("service", help="e.g. identity (its settings give database and keys)")
    reencrypt.add_argument("--table", required=True)
    reencrypt.add_argument("--column", required=True)
    reencrypt.add_argument("--id-column", default="id", help="the row id of each value's context")
    reencrypt.add_argument("--batch-size", type=int, default=500)
    reencrypt.set_defaults(run=_reencrypt)
    args = parser.parse_args()
    try:
        code = asyncio.run(args.run(args))
    except ValueError as error:  # a bad identifier, or the settings' validation
        print(f"error: {error}", file=sys.stderr)
        code = 2
    raise SystemExit(code)
