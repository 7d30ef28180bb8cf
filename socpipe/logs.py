"""Logging for every socpipe process: one format, and the chatty client libraries at WARNING."""

from __future__ import annotations

import logging
import os


def setup_logging(level: str = "INFO") -> None:
    """`SOC_LOG_LEVEL` overrides the level; Kafka, Elasticsearch and HTTP clients log at WARNING."""
    logging.basicConfig(
        level=os.environ.get("SOC_LOG_LEVEL", level), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("kafka", "elastic_transport", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # APScheduler logs every run of every job at INFO (the rule watcher ticks each second); its
    # failures and missed runs are ERROR and WARNING, which still show.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
