"""E-mail through the service's SMTP relay (``smtp_host``, ``smtp_port``, optional STARTTLS):
the message as text with its JSON document attached, to every address of the channel."""

from __future__ import annotations

import asyncio
import json
import smtplib
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from lookout_alert.service.channels.base import DeliveryError, Message

if TYPE_CHECKING:
    from lookout_alert.service.engine import Engine
    from lookout_alert.settings import Settings


def _mail(settings: Settings, to: list[str], message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = f"[Lookout] {message.alert_name}: {message.event}"
    mail["From"] = settings.smtp_from
    mail["To"] = ", ".join(to)
    mail.set_content(message.text())
    mail.add_attachment(
        json.dumps(message.document()).encode(),
        maintype="application",
        subtype="json",
        filename="notification.json",
    )
    return mail


def _send(settings: Settings, mail: EmailMessage) -> None:
    with smtplib.SMTP(
        settings.smtp_host, settings.smtp_port, timeout=settings.notification_timeout_s
    ) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        smtp.send_message(mail)


class Email:
    async def send(self, engine: Engine, channel: dict[str, Any], message: Message) -> None:
        mail = _mail(engine.settings, list(channel["to"]), message)
        try:
            await asyncio.to_thread(_send, engine.settings, mail)
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError(
                "the SMTP server refused every recipient", retryable=False
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"SMTP delivery failed ({type(error).__name__})") from None
