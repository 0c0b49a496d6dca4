"""Versioned ``data`` models of every domain event, one module per publishing service."""

from lookout_contracts.events.base import EventData

__all__ = ["EventData"]
