-- depends: 0001_data_sources
-- Added: one row per query execution (saved, ad hoc or a batch's item), written when it starts and
-- when it ends, so that GET /executions/{id} shows its status and the cancel endpoint, on any
-- replica, knows whose it is and which source runs it. No foreign keys: an execution outlives
-- the query or source it ran (the history stays true), and tenant_id/user_id are identity's.
CREATE TABLE query_executions (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    user_id UUID NOT NULL,
    data_source_id UUID NOT NULL,
    saved_query_id UUID,
    status VARCHAR(20) NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'success', 'failed', 'timeout', 'cancelled')),
    started_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    finished_at TIMESTAMP WITH TIME ZONE,
    -- Added with the end: what the result held, and the error's stable code when it failed.
    row_count BIGINT,
    duration_ms BIGINT,
    error_code VARCHAR(64)
);

CREATE INDEX idx_query_executions_tenant ON query_executions (tenant_id, started_at);
