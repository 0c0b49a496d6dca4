"""The alert service's pydantic models: the condition (``conditions.py``), the channels
(``channels.py``) and the API's bodies (``alerts.py``, ``history.py``)."""
