"""The analytics service's use cases, one module per resource (none yet; to come: the same reports,
always scoped by the caller's tenant)."""
