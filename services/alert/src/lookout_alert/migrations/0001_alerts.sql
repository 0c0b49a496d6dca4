-- depends: kit_0001_outbox kit_0003_periodic_tasks
-- Alerts and their history (the alert service's own database). The seed's columns stay; what this
-- service adds is marked "Added". tenant_id, user_id and query_id point into identity's and the
-- datasource service's data: kept true by their events, not by foreign keys (database per service).

CREATE TABLE alerts (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) NOT NULL,
    description TEXT,
    query_id UUID,
    -- The condition (value, threshold, change, no-data and error policies): schemas/conditions.py.
    condition_config JSONB NOT NULL,
    -- The channels; secret fields (a webhook's signing secret, a Slack URL) sealed by the kit's
    -- secret box (context alerts.notification_config:<id>), never returned.
    notification_config JSONB NOT NULL,
    user_id UUID NOT NULL,
    tenant_id UUID NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT true,
    last_triggered_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    -- Added: the saved query's parameter values the alert runs it with.
    parameter_values JSONB NOT NULL DEFAULT '{}',
    -- Added: when it runs ({"kind": "interval", "seconds": n} or {"kind": "cron", "expression"}),
    -- how long after a notified trigger another trigger stays silent, and silence until a time.
    schedule JSONB NOT NULL,
    cooldown_s INTEGER NOT NULL DEFAULT 0,
    mute_until TIMESTAMP WITH TIME ZONE,
    -- Added: scheduling state, on the kit's lease contract (lookout_kit.lease): next_run_at NULL
    -- when inactive; leased_until/leased_by while a replica evaluates it.
    next_run_at TIMESTAMP WITH TIME ZONE,
    leased_until TIMESTAMP WITH TIME ZONE,
    leased_by TEXT,
    -- Added: evaluation state. state is ok | triggered | error; condition_met is the last known
    -- outcome of the condition (kept through errors, so that recovering does not notify again).
    state VARCHAR(20) NOT NULL DEFAULT 'ok',
    condition_met BOOLEAN NOT NULL DEFAULT false,
    last_value DOUBLE PRECISION,
    last_evaluated_at TIMESTAMP WITH TIME ZONE,
    last_error TEXT,
    -- Added: when a trigger was last notified (cooldown), and whether the current trigger was (a
    -- resolve is notified only when its trigger was).
    last_notified_at TIMESTAMP WITH TIME ZONE,
    trigger_notified BOOLEAN NOT NULL DEFAULT false,
    evaluations BIGINT NOT NULL DEFAULT 0,
    -- Added: why an alert was deactivated by the service (its saved query was deleted).
    deactivated_reason TEXT,
    CONSTRAINT alerts_state CHECK (state IN ('ok', 'triggered', 'error'))
);

CREATE INDEX idx_alerts_tenant_id ON alerts (tenant_id, created_at, id);
CREATE INDEX idx_alerts_query_id ON alerts (tenant_id, query_id);
CREATE INDEX idx_alerts_next_run_at ON alerts (next_run_at) WHERE next_run_at IS NOT NULL;

CREATE TABLE alert_history (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    alert_id UUID NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    triggered_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    condition_met BOOLEAN NOT NULL,
    notification_sent BOOLEAN NOT NULL DEFAULT false,
    error_message TEXT,
    -- Added: the tenant (every query has it in its WHERE), what happened (triggered | resolved |
    -- error), the value observed and the execution evaluated (datasource's execution id).
    tenant_id UUID NOT NULL,
    kind VARCHAR(20) NOT NULL,
    observed_value DOUBLE PRECISION,
    execution_id UUID,
    CONSTRAINT alert_history_kind CHECK (kind IN ('triggered', 'resolved', 'error'))
);

CREATE INDEX idx_alert_history_alert_id ON alert_history (alert_id, triggered_at DESC, id DESC);

-- Added: each notification's outcome per channel (attempts, delivered or the last error).
CREATE TABLE alert_deliveries (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    history_id UUID NOT NULL REFERENCES alert_history (id) ON DELETE CASCADE,
    tenant_id UUID NOT NULL,
    channel_index INTEGER NOT NULL,
    channel VARCHAR(20) NOT NULL,
    attempts INTEGER NOT NULL,
    delivered BOOLEAN NOT NULL,
    error_message TEXT,
    finished_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

CREATE INDEX idx_alert_deliveries_history_id ON alert_deliveries (history_id);
