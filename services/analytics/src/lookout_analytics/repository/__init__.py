"""The analytics service's ClickHouse reads, one module per report family (``dashboards``,
``queries``, ``users``): bound ``{name:Type}`` parameters through the kit's client, and every
table reached through ``scope`` (the one place that builds the tenant filter); ``buckets`` is
the time-bucket SQL they share."""
