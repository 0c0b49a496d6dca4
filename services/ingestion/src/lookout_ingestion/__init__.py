"""Lookout's ingestion service."""
