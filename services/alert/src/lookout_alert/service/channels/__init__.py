"""Notification channels, one module per kind behind one protocol (``base.py``) and a registry."""
