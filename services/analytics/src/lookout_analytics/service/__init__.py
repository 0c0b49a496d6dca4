"""The analytics service's use cases, one module per report family (``dashboards``, ``queries``,
``users``): each checks ``analytics:read`` and scopes to the caller's tenant (``access``), reads,
and shapes series with a point per bucket (``series``)."""
