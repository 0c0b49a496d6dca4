"""A webhook: the message as JSON, POSTed with ``X-Lookout-Timestamp`` (Unix seconds) and
``X-Lookout-Signature: sha256=<hex>``, the HMAC-SHA256 of ``<timestamp>.<body>`` under the
channel's secret, so that a receiver can check who sent it and refuse replays."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any

import httpx
from lookout_kit.egress import EgressRefused, Unresolvable

from lookout_alert.service.channels.base import DeliveryError, Message, check_status

if TYPE_CHECKING:
    from lookout_alert.service.engine import Engine


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class Webhook:
    async def send(self, engine: Engine, channel: dict[str, Any], message: Message) -> None:
        body = json.dumps(message.document(), separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "lookout-alert",
            "X-Lookout-Timestamp": timestamp,
            "X-Lookout-Signature": signature(channel["secret"], timestamp, body),
        }
        try:
            response = await engine.http.post(channel["url"], content=body, headers=headers)
        except EgressRefused:
            raise DeliveryError(
                "the webhook's address is one notifications may not go to", retryable=False
            ) from None
        except Unresolvable:
            raise DeliveryError("the webhook's host name does not resolve") from None
        except httpx.HTTPError as error:
            raise DeliveryError(
                f"the webhook could not be reached ({type(error).__name__})"
            ) from None
        check_status(response.status_code)
