"""``python -m lookout_ingestion.consumer`` with its process's Prometheus metrics served on
``LOOKOUT_TEST_METRICS_PORT`` (the service serves them on ``/metrics``; the standalone consumer has
no HTTP): a test can see which partitions a replica was assigned, what it stored, whether it paused."""

from __future__ import annotations

import os

from lookout_ingestion.runner import main
from prometheus_client import start_http_server

if __name__ == "__main__":
    start_http_server(int(os.environ["LOOKOUT_TEST_METRICS_PORT"]), addr="127.0.0.1")
    main()
