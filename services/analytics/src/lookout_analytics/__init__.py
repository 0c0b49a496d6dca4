"""Lookout's analytics service."""
