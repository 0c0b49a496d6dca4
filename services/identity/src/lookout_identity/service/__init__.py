"""Identity's use cases: one transaction each, the state change and its outbox events together."""
