"""The alert service's queries, one module per table family: ``alerts.py`` (alerts and their
scheduling state) and ``alert_history.py`` (history and deliveries)."""
