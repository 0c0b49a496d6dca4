"""Settings of the alert service: every knob, from ``LOOKOUT_ALERT_*`` environment variables."""

from __future__ import annotations

from lookout_contracts.topics import DATASOURCE_EVENTS
from lookout_kit.egress import EgressSettings
from lookout_kit.secret_box import SecretBoxSettings
from lookout_kit.settings import (
    KAFKA_NAME_PATTERN,
    AuthSettings,
    ServiceClientSettings,
    ServiceSettings,
)
from pydantic import AnyHttpUrl, Field, PostgresDsn
from pydantic_settings import SettingsConfigDict


class Settings(
    EgressSettings, SecretBoxSettings, AuthSettings, ServiceClientSettings, ServiceSettings
):
    """``SECRET_KEYS`` / ``SECRET_PRIMARY_KID`` seal the channels' secrets (the kit's secret box);
    ``SERVICE_SECRET`` is this service's credential at identity (the datasource calls);
    ``EGRESS_*`` say where webhooks and Slack may send (the kit's egress policy: loopback, private
    networks and ``EGRESS_PLATFORM_SERVERS`` refused; the local stack allows loopback)."""

    model_config = SettingsConfigDict(
        env_prefix="LOOKOUT_ALERT_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    service_name: str = "alert"
    port: int = 8104
    root_path: str = "/api/alert"
    database_url: PostgresDsn | None = PostgresDsn(
        "postgresql://postgres@127.0.0.1:5432/lookout_alert"
    )
    datasource_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("http://127.0.0.1:8080/api/datasource"),
        description="The datasource service's API (an alert's saved query runs there)",
    )

    # Reactions to the datasource service's events (subscribers.py).
    datasource_events_topic: str = Field(default=DATASOURCE_EVENTS, pattern=KAFKA_NAME_PATTERN)
    """Where the datasource service's events come from (``saved_query.deleted``); tests override."""
    datasource_consumer_group: str = Field(default="alert-datasource", pattern=KAFKA_NAME_PATTERN)
    """The group of this service's reactions to them (its own: not shared with identity's)."""

    # Schedules (service/schedules.py).
    min_interval_s: int = Field(default=60, ge=1, le=86_400)
    """The shortest interval an alert may run at (a cron schedule runs at most once a minute)."""

    # The scheduler (service/scheduler.py).
    scheduler_enabled: bool = True
    """Run the scheduler in this replica (evaluate-now works either way)."""
    scheduler_poll_s: float = Field(default=1.0, gt=0, le=60)
    """How often a replica looks for due alerts (a round with a full batch goes on at once)."""
    scheduler_batch: int = Field(default=50, ge=1, le=1_000)
    """How many due alerts a replica leases and evaluates at once."""
    scheduler_lease_s: float = Field(default=300.0, ge=5, le=86_400)
    """How long an evaluation holds its alert: it must outlast the query (the datasource's
    timeout) and the notifications' retries; a replica that dies holds its alerts this long."""
    query_row_limit: int = Field(default=10_000, ge=1, le=1_000_000)
    """The most rows an evaluation reads of its query's result."""

    # Notifications (service/notifications.py, service/channels/).
    notification_attempts: int = Field(default=4, ge=1, le=20)
    """How many times a delivery is tried in all before it is recorded as failed."""
    notification_backoff_initial_s: float = Field(default=0.5, gt=0, le=60)
    notification_backoff_max_s: float = Field(default=10.0, gt=0, le=600)
    notification_timeout_s: float = Field(default=10.0, gt=0, le=120)
    """How long one delivery attempt (HTTP or SMTP) may take."""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65_535)
    smtp_from: str = "lookout-alerts@localhost"
    smtp_starttls: bool = False
    """Upgrade SMTP connections with STARTTLS (production relays)."""
