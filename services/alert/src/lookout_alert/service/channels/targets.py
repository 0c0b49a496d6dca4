"""Where webhooks and Slack may send: the kit's egress policy (``lookout_kit.egress``, the
``EGRESS_*`` settings). An alert's channel URL is checked when it is made or changed (422 naming
the field), and every delivery again after DNS resolution, before any packet is sent (the engine's
HTTP client sends through ``EgressTransport``), since a name may resolve elsewhere later."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from lookout_kit.egress import EgressPolicy, EgressRefused, Unresolvable, is_address
from lookout_kit.errors import Invalid

from lookout_alert.schemas.channels import NotificationIn, SlackIn, WebhookIn

RESOLVE_TIMEOUT_S = 3.0
"""How long a new channel's host may take to resolve; a name that does not resolve in time (or at
all) passes: each delivery resolves it again, and refuses it then."""


def _refused(index: int, reason: str) -> Invalid:
    return Invalid(
        f"notification_config.channels.{index}.url: {reason}",
        code="egress_refused",
        details=[
            {
                "loc": ["body", "notification_config", "channels", str(index), "url"],
                "msg": reason,
                "type": "egress_refused",
            }
        ],
    )


async def check_targets(policy: EgressPolicy, notification: NotificationIn) -> None:
    """422 ``egress_refused`` naming the channel's ``url`` when its host is, or resolves to, an
    address the policy refuses."""
    for index, channel in enumerate(notification.channels):
        if not isinstance(channel, WebhookIn | SlackIn):
            continue
        url = urlsplit(str(channel.url))
        host = url.hostname or ""
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            if is_address(host):
                policy.check(host, host, port)
            else:
                await asyncio.wait_for(policy.resolve(host, port), RESOLVE_TIMEOUT_S)
        except EgressRefused:
            # Not the policy's message: a Slack URL's host is all of it that may be shown.
            raise _refused(
                index, "the URL's host is an address notifications may not go to"
            ) from None
        except (Unresolvable, TimeoutError):
            continue
