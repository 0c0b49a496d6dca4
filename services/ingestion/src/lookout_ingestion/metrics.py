"""Prometheus metrics of the ingestion consumer (served by the kit's ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ROWS = Counter("lookout_ingestion_rows_total", "Rows inserted into ClickHouse", ["table"])
EVENTS = Counter(
    "lookout_ingestion_events_total", "Events consumed, by outcome", ["outcome"]
)  # outcome: ingested | dead_lettered | resent (an id seen within dedup_window) | skipped_rows
POSSIBLE_RESENDS = Counter(
    "lookout_ingestion_possible_resends_total",
    "Rows of relay-marked records the resend window kept, by what the lookup found",
    ["outcome"],
)  # outcome: earlier_in_run | stored_before | stored_by_this_record | new | unanswered
DEAD_LETTERS = Counter(
    "lookout_ingestion_dead_letters_total", "Records sent to the dead-letter topic", ["code"]
)
BATCH_ROWS = Histogram(
    "lookout_ingestion_batch_rows",
    "Rows per INSERT",
    ["table"],
    buckets=(1, 10, 100, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000),
)
INSERT_SECONDS = Histogram(
    "lookout_ingestion_insert_seconds",
    "Time of one successful INSERT",
    ["table"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
INSERT_FAILURES = Counter(
    "lookout_ingestion_insert_failures_total", "Failed INSERT attempts (retried)", ["table"]
)
LAG = Gauge(
    "lookout_ingestion_consumer_lag",
    "End offset minus committed offset, per assigned partition",
    ["topic", "partition"],
)
PAUSED = Gauge("lookout_ingestion_fetch_paused", "1 while fetching is paused (buffers full)")
OFFSET_REGRESSIONS = Counter(
    "lookout_ingestion_offset_regressions_total",
    "Partitions whose log began again (offsets from the start): their events are stored as new",
    ["reason"],
)  # reason: topic_created_again | log_end_below_stored | offsets_went_back
