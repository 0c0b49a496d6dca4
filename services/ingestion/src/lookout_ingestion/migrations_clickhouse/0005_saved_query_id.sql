-- The saved query an execution ran (query.executed's data.saved_query_id), so the analytics
-- "per saved query" report groups by it and not by the query's text. Not in ../shared/schema.sql's
-- query_metrics (see the README's mapping). A plain UUID, the zero UUID for an ad hoc query: rows
-- stored before this file get the same zero (they cannot be told apart from ad hoc ones), and no
-- Nullable (its null map per column; a Nullable column cannot be in a sort key). 18.16 has no
-- ADD COLUMN IF NOT EXISTS: the runner takes "column with this name already exists" as done.
ALTER TABLE query_metrics ADD COLUMN saved_query_id UUID AFTER data_source_id;
