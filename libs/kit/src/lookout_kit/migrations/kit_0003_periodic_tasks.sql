-- Periodic duties of a service that one replica per period performs (lookout_kit.lease: claim_turn,
-- finish_turn), e.g. the outbox prune. Follows the lease contract: key, next_run_at, leased_until,
-- leased_by.
CREATE TABLE IF NOT EXISTS periodic_tasks (
    name TEXT PRIMARY KEY,
    next_run_at TIMESTAMPTZ,
    leased_until TIMESTAMPTZ,
    leased_by TEXT
);
