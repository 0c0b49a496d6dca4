"""The datasource service's queries, one module per table family: `data_sources.py`,
`saved_queries.py`, and `visibility.py` (which rows a caller may see, as SQL); to come:
`data_source_schemas.py`."""
