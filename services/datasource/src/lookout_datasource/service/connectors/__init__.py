"""Connectors to customers' databases, one module per kind behind one ``Connector`` protocol
(``base.py``), chosen by ``registry.py``; ``pools.py`` keeps their connections per source."""
