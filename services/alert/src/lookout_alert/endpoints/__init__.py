"""The alert API's HTTP handlers, one module per resource (``alerts.py``; ``evaluations.py``:
evaluate now, test notification, history): parse, take the kit's ``CallerDep`` and ``PoolDep``
or the service's ``EngineDep``, call a use case, shape the response."""

from __future__ import annotations

from fastapi import APIRouter

from lookout_alert.endpoints import alerts, evaluations

ROUTERS: list[APIRouter] = [alerts.router, evaluations.router]
