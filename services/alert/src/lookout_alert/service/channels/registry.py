"""Channel kind → its implementation."""

from __future__ import annotations

from lookout_alert.service.channels.base import Channel
from lookout_alert.service.channels.email import Email
from lookout_alert.service.channels.slack import Slack
from lookout_alert.service.channels.webhook import Webhook

CHANNELS: dict[str, Channel] = {"webhook": Webhook(), "email": Email(), "slack": Slack()}
