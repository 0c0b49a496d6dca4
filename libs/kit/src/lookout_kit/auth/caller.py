"""Who is calling: the verified identity an access token carries, and its permissions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from lookout_kit.auth.conditions import Conditions, parse_conditions


@dataclass(frozen=True)
class Permission:
    """One permission of the caller's role: ``action`` on ``resource`` when ``conditions`` hold."""

    resource: str
    action: str
    conditions: Conditions | None = None

    def to_claim(self) -> dict[str, Any]:
        claim: dict[str, Any] = {"resource": self.resource, "action": self.action}
        if self.conditions is not None:
            claim["conditions"] = self.conditions.to_document()
        return claim

    @classmethod
    def from_claim(cls, claim: dict[str, Any]) -> Permission:
        return cls(
            resource=str(claim["resource"]),
            action=str(claim["action"]),
            conditions=parse_conditions(claim.get("conditions")),
        )


@dataclass(frozen=True)
class Caller:
    """A verified user (or API key) calling on behalf of a tenant."""

    tenant_id: UUID
    user_id: UUID
    role_id: UUID
    session_id: str
    permissions: tuple[Permission, ...]
    issued_at: float = 0.0
    expires_at: float = 0.0


@dataclass(frozen=True)
class ServiceCaller:
    """A verified service calling another service (a service token), on behalf of ``tenant_id``
    when the token names one (the callee then scopes the call to that tenant)."""

    service: str
    issued_at: float = 0.0
    expires_at: float = 0.0
    tenant_id: UUID | None = None
