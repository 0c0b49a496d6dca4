"""What ingestion reads and writes in ClickHouse besides the rows themselves: the stored watermarks
(``offsets``) and the registry of partition logs (``logs``). The tables' DDL is in
``migrations_clickhouse/``; the rows go through the pipeline's insert step."""
