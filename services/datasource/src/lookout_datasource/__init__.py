"""Lookout's datasource service."""
