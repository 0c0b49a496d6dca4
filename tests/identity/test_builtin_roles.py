"""The built-in roles as a tenant gets them, and migration 0002 for the tenants made before it: the
editor shares (so, on a dashboard, edits) only its own dashboards."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import asyncpg

from .conftest import Identity
from .factories import add_user, login, role_id, signup

MIGRATION = "0002_editor_shares_its_own_dashboards.sql"


def dashboard_share(role: dict[str, Any]) -> list[Any]:
    """The conditions of the role's ``dashboard:share`` permissions."""
    return [
        permission["conditions"]
        for permission in role["permissions"]
        if (permission["resource"], permission["action"]) == ("dashboard", "share")
    ]


async def test_a_new_tenants_editor_shares_only_its_own_dashboards(identity: Identity) -> None:
    admin = await signup(identity.client)
    editor = await role_id(identity.client, admin, "editor")
    role = (await identity.client.get(f"/roles/{editor}", headers=admin.headers)).json()
    assert dashboard_share(role) == [{"owner_only": True}]


async def test_migration_0002_conditions_the_editors_of_earlier_tenants(
    identity: Identity, database: str
) -> None:
    admin = await signup(identity.client)
    editor_role = await role_id(identity.client, admin, "editor")
    user = await add_user(identity.client, admin, role="editor")
    connection = await asyncpg.connect(database)
    try:
        # As a tenant made before the fix holds it.
        await connection.execute(
            "UPDATE permissions SET conditions = NULL WHERE tenant_id = $1 AND role_id = $2"
            " AND resource = 'dashboard' AND action = 'share'",
            admin.tenant_id,
            editor_role,
        )
        before = await login(identity.client, user["username"])
        sql = files("lookout_identity").joinpath("migrations", MIGRATION).read_text()
        await connection.execute(sql)
        await connection.execute(sql)  # a second run changes nothing
    finally:
        await connection.close()
    role = (await identity.client.get(f"/roles/{editor_role}", headers=admin.headers)).json()
    assert dashboard_share(role) == [{"owner_only": True}]
    # A token carrying the unconditional share is refused; a new login carries the condition.
    assert (await identity.client.get("/me", headers=before.headers)).status_code == 401
    after = await login(identity.client, user["username"])
    me = (await identity.client.get("/me", headers=after.headers)).json()
    assert dashboard_share(me["role"]) == [{"owner_only": True}]
