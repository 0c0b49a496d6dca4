"""The dashboard service's use cases, one module per resource: one transaction each, the state
change and its outbox events together."""
