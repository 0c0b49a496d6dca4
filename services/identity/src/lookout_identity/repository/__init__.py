"""Identity's SQL, one module per resource (asyncpg, $n parameters, named columns).

Every query of tenant data names the tenant in its WHERE. The exceptions are the look-ups that come
*before* a tenant is known and are keyed by a credential: the login name, a refresh token's hash, an
API key's hash; and the tenant-less tables (signing keys, login throttling). A unique violation of a
table's constraint is answered where the constraint's table is written, as a ``Conflict``.
"""

from __future__ import annotations

from lookout_identity.repository import (
    api_keys,
    login_throttle,
    roles,
    sessions,
    signing_keys,
    tenants,
    users,
)

__all__ = ["api_keys", "login_throttle", "roles", "sessions", "signing_keys", "tenants", "users"]
