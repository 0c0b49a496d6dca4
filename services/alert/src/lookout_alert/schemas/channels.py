"""Notification channels: what a caller sends (``*In``, secrets included) and what is returned
(``*Out``, never a secret: a webhook says whether it has one, a Slack URL — itself a credential —
only its host).

Stored in ``notification_config`` as ``{"channels": [...]}``, each channel's secret fields sealed
by the kit's secret box (``secret_sealed``, ``url_sealed``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr

Kind = Literal["webhook", "email", "slack"]
Address = Annotated[
    str,
    Field(max_length=254, pattern=r"^[^@\s<>,;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$"),
]
"""An e-mail address (local part and a host name; no display name, no header characters)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookIn(_Model):
    """POSTs the notification as JSON, signed: ``X-Lookout-Signature: sha256=<hex HMAC-SHA256 of
    "<X-Lookout-Timestamp>.<body>" under secret>``. On an update, a webhook sent without a secret
    keeps the one of the alert's webhook with the same URL."""

    kind: Literal["webhook"]
    url: AnyHttpUrl
    secret: SecretStr | None = Field(default=None, min_length=16, max_length=256)


class EmailIn(_Model):
    """A mail through the service's SMTP relay to each address."""

    kind: Literal["email"]
    to: list[Address] = Field(min_length=1, max_length=20)


class SlackIn(_Model):
    """A Slack-compatible incoming webhook (``{"text": ...}``); the URL is a credential."""

    kind: Literal["slack"]
    url: AnyHttpUrl


ChannelIn = Annotated[WebhookIn | EmailIn | SlackIn, Field(discriminator="kind")]


class NotificationIn(_Model):
    channels: list[ChannelIn] = Field(min_length=1, max_length=10)


class WebhookOut(_Model):
    kind: Literal["webhook"] = "webhook"
    url: str
    secret_set: bool


class EmailOut(_Model):
    kind: Literal["email"] = "email"
    to: list[str]


class SlackOut(_Model):
    kind: Literal["slack"] = "slack"
    host: str = Field(description="The URL's host only: the whole URL is a credential")


ChannelOut = Annotated[WebhookOut | EmailOut | SlackOut, Field(discriminator="kind")]


class NotificationOut(_Model):
    channels: list[ChannelOut]

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> NotificationOut:
        channels: list[Any] = []
        for channel in stored.get("channels", []):
            if channel["kind"] == "webhook":
                channels.append(
                    WebhookOut(url=channel["url"], secret_set=bool(channel.get("secret_sealed")))
                )
            elif channel["kind"] == "email":
                channels.append(EmailOut(to=list(channel["to"])))
            else:
                channels.append(SlackOut(host=channel.get("host", "")))
        return cls(channels=channels)


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""
