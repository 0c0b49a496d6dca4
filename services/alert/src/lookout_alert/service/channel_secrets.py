"""Channels as stored: each secret field sealed with the kit's secret box for its alert
(``row_context("alerts", "notification_config", <alert id>)``), opened only to deliver.

A webhook's signing secret is ``secret_sealed``; a Slack URL (a credential) is ``url_sealed``, with
its host kept in clear for the API to show. On an update, a webhook sent without a secret keeps
the sealed secret of the alert's webhook with the same URL; none: 422 naming the field."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from lookout_kit.errors import Invalid
from lookout_kit.secret_box import SecretBox, row_context

from lookout_alert.schemas.channels import NotificationIn, SlackIn, WebhookIn, host_of


def _context(alert_id: UUID) -> bytes:
    return row_context("alerts", "notification_config", alert_id)


def seal_channels(
    box: SecretBox, alert_id: UUID, body: NotificationIn, previous: dict[str, Any] | None
) -> dict[str, Any]:
    """``notification_config`` as stored for ``body``."""
    kept = {
        channel["url"]: channel["secret_sealed"]
        for channel in (previous or {}).get("channels", [])
        if channel["kind"] == "webhook" and channel.get("secret_sealed")
    }
    stored: list[dict[str, Any]] = []
    for index, channel in enumerate(body.channels):
        if isinstance(channel, WebhookIn):
            url = str(channel.url)
            if channel.secret is not None:
                sealed = box.encrypt(channel.secret.get_secret_value(), context=_context(alert_id))
            elif url in kept:
                sealed = kept[url]
            else:
                raise Invalid(
                    "a webhook needs a signing secret (at least 16 characters)",
                    code="invalid_channel",
                    details=[
                        {
                            "loc": [
                                "body",
                                "notification_config",
                                "channels",
                                str(index),
                                "secret",
                            ],
                            "msg": "required",
                            "type": "missing",
                        }
                    ],
                )
            stored.append({"kind": "webhook", "url": url, "secret_sealed": sealed})
        elif isinstance(channel, SlackIn):
            url = str(channel.url)
            stored.append(
                {
                    "kind": "slack",
                    "host": host_of(url),
                    "url_sealed": box.encrypt(url, context=_context(alert_id)),
                }
            )
        else:
            stored.append({"kind": "email", "to": list(channel.to)})
    return {"channels": stored}


def open_channel(box: SecretBox, alert_id: UUID, channel: dict[str, Any]) -> dict[str, Any]:
    """One stored channel with its secrets opened (to deliver, never to return)."""
    opened = dict(channel)
    if channel["kind"] == "webhook":
        opened["secret"] = box.decrypt_text(channel["secret_sealed"], context=_context(alert_id))
    elif channel["kind"] == "slack":
        opened["url"] = box.decrypt_text(channel["url_sealed"], context=_context(alert_id))
    return opened
