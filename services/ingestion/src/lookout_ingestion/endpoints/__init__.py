"""Ingestion's HTTP side is the kit's alone: ``/livez``, ``/readyz`` (broker and ClickHouse),
``/metrics`` (the consumer's metrics, README) and the API docs. No routes of its own."""

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []
