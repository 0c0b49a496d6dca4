"""Lookout's dashboard service."""
