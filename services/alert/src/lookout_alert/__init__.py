"""Lookout's alert service."""
