-- depends: kit_0001_outbox
-- Dashboards, their grants and their version history (the dashboard service's own database).
-- owner_id, user_id, role_id and tenant_id point into identity's data: kept true by identity's
-- events, not by foreign keys (database per service).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE dashboards (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) NOT NULL,
    description TEXT,
    tenant_id UUID NOT NULL,
    owner_id UUID NOT NULL,
    layout JSONB NOT NULL,
    components JSONB NOT NULL,
    filters JSONB,
    tags TEXT[] NOT NULL DEFAULT '{}',
    is_public BOOLEAN NOT NULL DEFAULT false,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    published_at TIMESTAMP WITH TIME ZONE
);

CREATE INDEX idx_dashboards_tenant_id ON dashboards (tenant_id);
CREATE INDEX idx_dashboards_owner_id ON dashboards (tenant_id, owner_id);
-- Keyset pagination by either sort key, within a tenant.
CREATE INDEX idx_dashboards_tenant_updated ON dashboards (tenant_id, updated_at DESC, id DESC);
CREATE INDEX idx_dashboards_tenant_name ON dashboards (tenant_id, name, id);
CREATE INDEX idx_dashboards_tags ON dashboards USING GIN (tags);
-- Text search by substring of name or description (ILIKE '%…%').
CREATE INDEX idx_dashboards_text ON dashboards
    USING GIN ((name || ' ' || coalesce(description, '')) gin_trgm_ops);

CREATE TABLE dashboard_permissions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    dashboard_id UUID NOT NULL REFERENCES dashboards(id) ON DELETE CASCADE,
    user_id UUID,
    role_id UUID,
    permission_type VARCHAR(20) NOT NULL CHECK (permission_type IN ('view', 'edit', 'share', 'admin')),
    granted_by UUID,
    granted_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    CHECK ((user_id IS NULL) <> (role_id IS NULL)),
    UNIQUE NULLS NOT DISTINCT (dashboard_id, user_id, role_id)
);

CREATE INDEX idx_dashboard_permissions_dashboard_id ON dashboard_permissions (dashboard_id);
CREATE INDEX idx_dashboard_permissions_user_id ON dashboard_permissions (user_id);
CREATE INDEX idx_dashboard_permissions_role_id ON dashboard_permissions (role_id);

-- Every state a dashboard had: version N's row is the dashboard as it was at version N.
CREATE TABLE dashboard_versions (
    dashboard_id UUID NOT NULL REFERENCES dashboards(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    layout JSONB NOT NULL,
    components JSONB NOT NULL,
    filters JSONB,
    tags TEXT[] NOT NULL DEFAULT '{}',
    is_public BOOLEAN NOT NULL,
    created_by UUID NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    PRIMARY KEY (dashboard_id, version)
);
