"""Lookout service kit."""
