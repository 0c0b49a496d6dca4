"""A Slack-compatible incoming webhook: ``{"text": ...}`` POSTed to the channel's URL (a
credential: errors never name it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
from lookout_kit.egress import EgressRefused, Unresolvable

from lookout_alert.service.channels.base import DeliveryError, Message, check_status

if TYPE_CHECKING:
    from lookout_alert.service.engine import Engine


class Slack:
    async def send(self, engine: Engine, channel: dict[str, Any], message: Message) -> None:
        try:
            response = await engine.http.post(channel["url"], json={"text": message.text()})
        except EgressRefused:
            raise DeliveryError(
                "the Slack URL's address is one notifications may not go to", retryable=False
            ) from None
        except Unresolvable:
            raise DeliveryError("the Slack URL's host name does not resolve") from None
        except httpx.HTTPError as error:
            raise DeliveryError(f"Slack could not be reached ({type(error).__name__})") from None
        check_status(response.status_code)
