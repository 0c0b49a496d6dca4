"""The alert service's use cases: alerts (``alerts.py``), their schedules (``schedules.py``) and
channels' secrets (``channel_secrets.py``), evaluation (``conditions.py``, ``evaluation.py``,
``query_runner.py``), the scheduler (``scheduler.py``, a ``FOR UPDATE SKIP LOCKED`` lease per due
alert), notifications (``notifications.py``; one module per kind under ``channels/``), history
(``history.py``) and reactions to other services' events (``reactions.py``)."""
