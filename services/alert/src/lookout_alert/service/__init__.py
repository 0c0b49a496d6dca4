"""The alert service's use cases, one module per resource (none yet; to come: the same resources,
the scheduler (a `FOR UPDATE SKIP LOCKED` lease per due alert, so replicas share the work), and
channels per kind behind one protocol and a registry (`channels/webhook.py`, `channels/email.py`,
`channels/slack.py`))."""
