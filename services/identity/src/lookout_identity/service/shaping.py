"""Rows to response models (never a password hash: the models have no such field)."""

from __future__ import annotations

from typing import Any

import asyncpg

from lookout_identity.schemas import ApiKeyOut, PermissionOut, RoleOut, TenantOut, UserOut


def tenant_out(row: asyncpg.Record) -> TenantOut:
    return TenantOut(
        id=row["id"],
        name=row["name"],
        slug=row["slug"],
        settings=row["settings"] or {},
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def user_out(row: asyncpg.Record) -> UserOut:
    return UserOut(
        id=row["id"],
        tenant_id=row["tenant_id"],
        username=row["username"],
        email=row["email"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        role_id=row["role_id"],
        is_active=row["is_active"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_login_at=row["last_login_at"],
    )


def permission_out(row: asyncpg.Record) -> PermissionOut:
    return PermissionOut(
        id=row["id"],
        resource=row["resource"],
        action=row["action"],
        conditions=row["conditions"],
        created_at=row["created_at"],
    )


def role_out(row: asyncpg.Record, permissions: list[asyncpg.Record]) -> RoleOut:
    return RoleOut(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        is_builtin=row["is_builtin"],
        permissions=[permission_out(p) for p in permissions],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def api_key_out(row: asyncpg.Record) -> ApiKeyOut:
    return ApiKeyOut(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


def permission_claims(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    claims: list[dict[str, Any]] = []
    for row in rows:
        claim: dict[str, Any] = {"resource": row["resource"], "action": row["action"]}
        if row["conditions"] is not None:
            claim["conditions"] = row["conditions"]
        claims.append(claim)
    return claims
