"""``lookout-admin``: identity's command line for a new install.

    lookout-admin create-tenant --name Demo --slug demo --username admin --email admin@example.com
    lookout-admin rotate-signing-key
    lookout-admin revoke-service-tokens alert --reason "secret leaked"

``create-tenant`` signs a tenant up exactly as ``POST /signup`` does (events through the outbox,
which the running service relays) and prints the admin's credentials; without ``--password`` it
generates one. The password is printed once, to the terminal that asked for it, never logged.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys

from lookout_kit.database import create_pool
from lookout_kit.errors import DomainError
from lookout_kit.migrate import apply_migrations

from lookout_identity.components import Components
from lookout_identity.schemas import SignupRequest
from lookout_identity.service import service_tokens, tenants
from lookout_identity.settings import Settings


async def _with_components(settings: Settings) -> Components:
    dsn = settings.database_dsn
    if dsn is None:
        raise SystemExit("identity has no database configured")
    await apply_migrations(dsn, "lookout_identity")
    pool = await create_pool(dsn, min_size=1, max_size=2)
    return Components.build(settings, pool)


async def _create_tenant(args: argparse.Namespace) -> int:
    settings = Settings()
    password = args.password or secrets.token_urlsafe(18)
    components = await _with_components(settings)
    try:
        body = SignupRequest(
            tenant_name=args.name,
            tenant_slug=args.slug,
            username=args.username,
            email=args.email,
            password=password,
        )
        result = await tenants.signup(components, body, None)
    except DomainError as error:
        print(f"error: {error.message} ({error.code})", file=sys.stderr)
        return 1
    finally:
        await components.pool.close()
    print(
        json.dumps(
            {
                "tenant_id": str(result.tenant.id),
                "tenant_slug": result.tenant.slug,
                "user_id": str(result.user.id),
                "username": result.user.username,
                "password": password,
            },
            indent=2,
        )
    )
    return 0


async def _rotate(_args: argparse.Namespace) -> int:
    components = await _with_components(Settings())
    try:
        kid = await components.keyring.rotate()
    finally:
        await components.pool.close()
    print(f"new signing key {kid}; previous keys stay published until their tokens expire")
    return 0


async def _revoke_service_tokens(args: argparse.Namespace) -> int:
    components = await _with_components(Settings())
    try:
        await service_tokens.revoke_service_tokens(components, args.service, args.reason)
    finally:
        await components.pool.close()
    print(f"{args.service}: every service token issued until now is revoked")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="lookout-admin", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-tenant", help="create a tenant and its first admin")
    create.add_argument("--name", required=True)
    create.add_argument("--slug", required=True)
    create.add_argument("--username", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--password", help="generated when omitted")
    create.set_defaults(run=_create_tenant)
    rotate = commands.add_parser("rotate-signing-key", help="start signing with a new key")
    rotate.set_defaults(run=_rotate)
    revoke = commands.add_parser(
        "revoke-service-tokens", help="refuse every token a service holds now"
    )
    revoke.add_argument("service")
    revoke.add_argument("--reason")
    revoke.set_defaults(run=_revoke_service_tokens)
    args = parser.parse_args()
    try:
        code = asyncio.run(args.run(args))
    except ValueError as error:  # pydantic's ValidationError of the arguments
        print(f"error: {error}", file=sys.stderr)
        code = 2
    raise SystemExit(code)
