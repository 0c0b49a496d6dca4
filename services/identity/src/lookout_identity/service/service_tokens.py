"""Service tokens: a configured service client's credentials for a short-lived service token."""

from __future__ import annotations

import hmac

from lookout_kit.errors import Unauthorized

from lookout_identity.components import Components
from lookout_identity.schemas import TokenResponse
from lookout_identity.tokens import issue_service_token


async def service_token(components: Components, service: str, secret: str) -> TokenResponse:
    expected = components.settings.service_clients.get(service)
    # compare_digest either way, so that an unknown service costs the same as a wrong secret.
    reference = expected.get_secret_value() if expected is not None else "no such service client"
    if not hmac.compare_digest(reference.encode(), secret.encode()) or expected is None:
        raise Unauthorized("invalid service credentials", code="invalid_client")
    key = await components.keyring.active()
    return TokenResponse(
        access_token=issue_service_token(key, components.settings, service),
        expires_in=components.settings.service_token_ttl_s,
    )
