"""``lookout-serve <service>``: run one replica of a service with uvicorn, configured by its settings."""

from __future__ import annotations

import argparse
import importlib

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("service", help="service name, e.g. dashboard")
    args = parser.parse_args()
    settings = importlib.import_module(f"lookout_{args.service}.settings").Settings()
    uvicorn.run(
        f"lookout_{args.service}.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        root_path=settings.root_path,
        log_config=None,
        access_log=settings.access_log,
        # The kit's one middleware applies X-Forwarded-* from the gateway (forwarded_allow_ips).
        proxy_headers=False,
        timeout_graceful_shutdown=settings.graceful_shutdown_s,
    )
