"""Settings of the ingestion service: every knob, from ``LOOKOUT_INGESTION_*`` environment variables."""

from __future__ import annotations

from lookout_contracts.topics import EVENT_TOPIC_PATTERN, INGESTION_DLQ
from lookout_kit.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKOUT_INGESTION_", extra="ignore", frozen=True)

    service_name: str = "ingestion"
    port: int = 8105
    root_path: str = "/api/ingestion"
    clickhouse_url: str | None = "http://127.0.0.1:8123"

    # The consumer
    consumer_enabled: bool = Field(
        default=True, description="Run the consumer inside the service process"
    )
    consumer_group: str = "ingestion"
    topic_pattern: str = Field(
        default=EVENT_TOPIC_PATTERN, description="Regex of the topics to ingest (every *.events)"
    )
    dlq_topic: str = INGESTION_DLQ
    metadata_max_age_ms: int = Field(
        default=10_000, ge=100, description="How soon a new topic matching the pattern is seen"
    )
    session_timeout_ms: int = Field(
        default=10_000, ge=1_000, description="How soon a dead replica's partitions move"
    )

    # Batching: a flush round starts when a table's buffer reaches ``batch_max_rows`` or the oldest
    # unflushed event is ``batch_max_age_s`` old. The bound stays far below ClickHouse's
    # max_insert_block_size (1,048,576) so one INSERT is one block.
    batch_max_rows: int = Field(default=10_000, ge=1, le=500_000)
    batch_max_age_s: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description=(
            "How old the oldest unflushed event may get: an event is queryable about this long "
            "after it is read, plus an insert (bench-ingest's p99 at 10,000 events/s)"
        ),
    )
    max_buffered_rows: int = Field(
        default=100_000, ge=1, description="Fetching pauses above this many unflushed rows"
    )
    fetch_max_records: int = Field(default=5_000, ge=1)
    dedup_window: int = Field(
        default=10_000,
        ge=1,
        le=10_000_000,
        description=(
            "Per partition: a valid event whose id is at one of this many earlier offsets is a "
            "resend and is dropped (about 2 x 100 bytes of memory per offset per busy partition; "
            "read again from the broker at each assignment)"
        ),
    )
    fetch_max_partition_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        description="Bytes fetched per partition and request: bigger means fewer round trips",
    )
    fetch_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)

    # Inserting
    insert_timeout_s: float = Field(default=30.0, gt=0)
    retry_initial_s: float = Field(default=0.2, gt=0)
    retry_max_s: float = Field(default=5.0, gt=0)
    revoke_flush_timeout_s: float = Field(
        default=30.0, gt=0, description="How long a rebalance waits for the last flush"
    )
    lag_interval_s: float = Field(default=5.0, gt=0)
