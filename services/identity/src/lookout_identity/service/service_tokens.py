"""Service tokens: a configured service client's credentials for a short-lived service token
(acting for a tenant when it names one), and their revocation (``service_tokens.revoked``)."""

from __future__ import annotations

import hmac
from uuid import NAMESPACE_URL, UUID, uuid5

from lookout_contracts import make_event
from lookout_contracts.events.identity import ServiceTokensRevokedV1
from lookout_kit.errors import NotFound, Unauthorized
from lookout_kit.outbox import publish_in_tx

from lookout_identity.components import Components
from lookout_identity.repository import tenants as tenant_rows
from lookout_identity.schemas import TokenResponse
from lookout_identity.tokens import issue_service_token

PLATFORM = UUID(int=0)
"""The ``tenant_id`` of events that belong to no tenant (a service's credentials)."""


async def service_token(
    components: Components, service: str, secret: str, tenant_id: UUID | None = None
) -> TokenResponse:
    expected = components.settings.service_clients.get(service)
    # compare_digest either way, so that an unknown service costs the same as a wrong secret.
    reference = expected.get_secret_value() if expected is not None else "no such service client"
    if not hmac.compare_digest(reference.encode(), secret.encode()) or expected is None:
        raise Unauthorized("invalid service credentials", code="invalid_client")
    if tenant_id is not None:
        async with components.pool.acquire() as conn:
            if await tenant_rows.get_tenant(conn, tenant_id) is None:
                raise NotFound("no such tenant")
    key = await components.keyring.active()
    return TokenResponse(
        access_token=issue_service_token(key, components.settings, service, tenant_id),
        expires_in=components.settings.service_token_ttl_s,
    )


async def revoke_service_tokens(
    components: Components, service: str, reason: str | None = None
) -> None:
    """Every token ``service`` holds now is refused by every service within seconds (they see the
    event); tokens it obtains afterwards are valid (rotate its secret first if it leaked)."""
    event = make_event(
        "service_tokens.revoked",
        tenant_id=PLATFORM,
        subject_id=uuid5(NAMESPACE_URL, f"lookout:service:{service}"),
        data=ServiceTokensRevokedV1(service=service, reason=reason),
    )
    async with components.pool.acquire() as conn, conn.transaction():
        await publish_in_tx(conn, event)
