"""The datasource service's queries, one module per table family (none yet; to come:
`data_sources.py`, `data_source_schemas.py`, `saved_queries.py`)."""
