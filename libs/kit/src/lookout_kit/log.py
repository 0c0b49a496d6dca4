"""Structured JSON logs on stdout, one object per line, with the trace and request ids when there are any."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        request_id = request_id_var.get()
        if request_id:
            record.request_id = request_id
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            record.trace_id = format(span_context.trace_id, "032x")
            record.span_id = format(span_context.span_id, "016x")
        return True


def configure_logging(service: str, level: str = "INFO", *, access_log: bool = False) -> None:
    """Send every log record (ours, uvicorn's, libraries') to stdout as JSON; uvicorn's
    per-request access line only with ``access_log`` (uvicorn writes it whenever its logger has a
    handler, through propagation too, whatever its own ``access_log`` option says)."""
    handler = logging.StreamHandler(sys.stdout)
    formatter: Any = JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        timestamp=False,
    )
    handler.setFormatter(formatter)
    handler.addFilter(_ContextFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers[:] = []
        uvicorn_logger.propagate = access_log or name != "uvicorn.access"
    # aiokafka logs every failed connection attempt at ERROR; our own code reports broker health.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
