"""The alert service's pydantic models: none yet. They will be alerts (saved query, condition,
schedule, channels), their history; each built from a stored row by its ``from_row`` classmethod."""
