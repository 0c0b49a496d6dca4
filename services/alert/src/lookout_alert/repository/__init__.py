"""The alert service's queries, one module per table family (none yet; to come: `alerts.py`,
`alert_history.py`)."""
