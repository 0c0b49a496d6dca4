"""The analytics service's pydantic models: none yet. They will be report requests (tenant, time
range, grouping) and report rows; each built from a stored row by its ``from_row`` classmethod."""
