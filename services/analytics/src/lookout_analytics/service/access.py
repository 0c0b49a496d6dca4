"""Who may read reports, and over which rows: ``analytics:read`` on the caller's role, always
within the caller's own tenant (the token's; never a parameter)."""

from __future__ import annotations

from lookout_kit.auth.caller import Caller
from lookout_kit.auth.policy import can
from lookout_kit.errors import Forbidden

from lookout_analytics.repository.scope import Scope
from lookout_analytics.schemas import ReportWindow


def report_scope(caller: Caller, window: ReportWindow) -> Scope:
    """The rows ``caller`` may report on in ``window``: 403 without ``analytics:read``."""
    if not can(caller, "read", "analytics"):
        raise Forbidden("reading analytics needs the analytics:read permission")
    return Scope(tenant_id=caller.tenant_id, start=window.start, end=window.end)
