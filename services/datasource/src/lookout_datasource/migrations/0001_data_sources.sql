-- depends: kit_0001_outbox kit_0003_periodic_tasks
-- Data sources, their introspected schemas and saved queries (the datasource service's own database).
-- tenant_id, owner_id and user_id point into identity's data: kept true by identity's events, not by
-- foreign keys (database per service). The seed's columns stay; what this service adds is marked.

CREATE TABLE data_sources (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) NOT NULL,
    type VARCHAR(50) NOT NULL,
    -- Only the non-secret settings of the connection (host, port, database, user, options).
    connection_config JSONB NOT NULL,
    tenant_id UUID NOT NULL,
    owner_id UUID NOT NULL,
    schema_info JSONB,
    status VARCHAR(20) NOT NULL DEFAULT 'active',
    last_tested_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    -- Added: the secret fields of the connection (password, ...) as one JSON object sealed by the
    -- kit's secret box (`v1:<kid>:...`, context data_sources.secrets:<id>); NULL when it has none.
    secrets TEXT,
    -- Added: the names of the secret fields that are set (never their values), so that a response
    -- can mask them without opening the box.
    secret_names TEXT[] NOT NULL DEFAULT '{}',
    -- Added: +1 on every change; what a connection pool is keyed by (a changed source, a new pool).
    version INTEGER NOT NULL DEFAULT 1,
    -- Added: the schema browser's refresh, leased by lookout_kit.lease (next_run_at, leased_until,
    -- leased_by) so that one replica refreshes a source at a time.
    schema_refreshed_at TIMESTAMP WITH TIME ZONE,
    next_run_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    leased_until TIMESTAMP WITH TIME ZONE,
    leased_by TEXT,
    CONSTRAINT data_sources_tenant_name UNIQUE (tenant_id, name)
);

CREATE INDEX idx_data_sources_tenant_id ON data_sources (tenant_id);
CREATE INDEX idx_data_sources_owner ON data_sources (tenant_id, owner_id);
CREATE INDEX idx_data_sources_next_run ON data_sources (next_run_at) WHERE next_run_at IS NOT NULL;

CREATE TABLE data_source_schemas (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    data_source_id UUID NOT NULL REFERENCES data_sources(id) ON DELETE CASCADE,
    schema_name VARCHAR(255),
    table_name VARCHAR(255),
    column_name VARCHAR(255),
    data_type VARCHAR(100),
    is_nullable BOOLEAN DEFAULT true,
    column_default TEXT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    UNIQUE (data_source_id, schema_name, table_name, column_name)
);

CREATE TABLE saved_queries (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) NOT NULL,
    description TEXT,
    query_text TEXT NOT NULL,
    -- No cascade: a source with saved queries is not deleted from under them (the service decides).
    data_source_id UUID NOT NULL REFERENCES data_sources(id),
    user_id UUID NOT NULL,
    tenant_id UUID NOT NULL,
    parameters JSONB,
    is_public BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    -- Added: +1 on every change.
    version INTEGER NOT NULL DEFAULT 1
);

CREATE INDEX idx_saved_queries_tenant_id ON saved_queries (tenant_id);
CREATE INDEX idx_saved_queries_data_source_id ON saved_queries (data_source_id);
CREATE INDEX idx_saved_queries_user ON saved_queries (tenant_id, user_id);
-- Keyset pagination by name within a tenant.
CREATE INDEX idx_saved_queries_tenant_name ON saved_queries (tenant_id, name, id);
