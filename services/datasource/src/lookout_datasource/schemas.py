"""The datasource service's pydantic models: none yet. They will be data sources (connection
settings; secrets write-only), their introspected schemas, saved queries, query runs and results;
each built from a stored row by its ``from_row`` classmethod."""
