"""The datasource service's use cases, one module per resource (none yet; to come: the same
resources; connectors per kind behind one `Connector` protocol and a registry
(`connectors/postgresql.py`, `connectors/clickhouse.py`, `connectors/mysql.py`))."""
