"""Lookout test support."""
