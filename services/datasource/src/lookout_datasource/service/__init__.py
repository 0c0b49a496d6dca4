"""The datasource service's use cases, one module per resource: `data_sources.py`,
`saved_queries.py`, `access.py` (who may do what), `connections.py` (settings per kind, secrets
sealed and opened), `reactions.py` (identity's events), `cursors.py` (page cursors); connectors
per kind behind one `Connector` protocol and a registry (`connectors/`)."""
