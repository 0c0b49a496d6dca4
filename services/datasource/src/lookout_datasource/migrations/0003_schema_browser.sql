-- depends: 0001_data_sources
-- The schema browser (service/schema_browser.py). The refresh's lease columns (next_run_at,
-- leased_until, leased_by, schema_refreshed_at) came with 0001; this adds what browsing needs.

-- Added: a column's place in its table as the source lists it (1, 2, ...), so that a table's
-- columns come back in the table's own order, not by name.
ALTER TABLE data_source_schemas ADD COLUMN position INTEGER NOT NULL DEFAULT 0;

-- Widened from VARCHAR(100): ClickHouse's types (Enum8('a' = 1, ...), Tuple(...), Nested) and
-- PostgreSQL's arrays and domains run longer than 100 characters.
ALTER TABLE data_source_schemas ALTER COLUMN data_type TYPE TEXT;

-- The browser lists a source's tables in (schema, table) order and pages by them: the unique
-- key (data_source_id, schema_name, table_name, column_name) serves that prefix already.
