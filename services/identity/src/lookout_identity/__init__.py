"""Lookout's identity service."""
