"""The datasource service's pydantic models, one module per resource: ``parameters.py`` (a saved
query's typed parameters), ``data_sources.py``, ``saved_queries.py``; each body built from a
stored row by its ``from_row`` classmethod."""
