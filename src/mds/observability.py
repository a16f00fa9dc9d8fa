"""Structured JSON logs (structlog) and Prometheus metrics.

With `mds serve --workers N` each process counts into files under PROMETHEUS_MULTIPROC_DIR
(set by the supervisor before the workers start) and `/metrics` adds them up, so a scrape
sees the whole server whichever process answers it.
"""

from __future__ import annotations

import collections
import logging
import os
import sys
from collections.abc import Iterator, Sequence

import structlog
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mds.config import LogFormat

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "mds_http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "mds_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def configure_logging(level: str = "INFO", fmt: LogFormat = LogFormat.JSON) -> None:
    """Route structlog and stdlib logging (uvicorn, alembic) through one JSON renderer."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt is LogFormat.JSON
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # The request middleware logs each request once, with its request id; uvicorn's line is noise.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


RELAY_PUBLISHED = Counter("mds_relay_published_total", "Outbox events published to Kafka")
RELAY_LAG = Gauge(
    "mds_relay_lag_seconds",
    "Age of the newest outbox event published (0: nothing waiting)",
    # Several server processes: the leading relay's lag, not one series per process.
    multiprocess_mode="livemax",
)
API_PENDING_SIGNALS = Gauge(
    "mds_api_pending_signals",
    "Signals waiting for the API's group commit (a POST beyond MDS_API_MAX_PENDING_SIGNALS"
    " is answered 503)",
    multiprocess_mode="livesum",  # several server processes: their queues together
)
WORKER_SIGNALS = Counter(
    "mds_worker_signals_total", "Kafka signals handled by the ingestion worker", ["result"]
)


# Resolution, by where the signals came from: the API's group commits, the Kafka worker's
# micro-batches, `mds import` (whose process is rarely scraped, but the same code counts it).
ENTRY_POINTS = ("api", "kafka", "import")
SIGNALS_RESOLVED = Counter(
    "mds_signals_resolved_total",
    "Signals the resolution service answered, by entry point and decision",
    ["entry", "decision"],
)
RESOLUTION_BATCH_SIGNALS = Histogram(
    "mds_resolution_batch_signals",
    "Signals per resolution transaction (for the API: requests sharing one group commit)",
    ["entry"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
RESOLUTION_BATCH_SECONDS = Histogram(
    "mds_resolution_batch_seconds",
    "Time to resolve and commit one batch of signals, retries and splits included",
    ["entry"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def entry_point(actor: str) -> str:
    """The metrics label of an audit actor ("import:people.jsonl" -> "import"): a bounded set,
    since actors name files."""
    entry = actor.partition(":")[0]
    return entry if entry in ENTRY_POINTS else "other"


def record_resolution(actor: str, decisions: Sequence[str], seconds: float) -> None:
    """One committed batch: its size, its time, and each signal's decision."""
    entry = entry_point(actor)
    RESOLUTION_BATCH_SIGNALS.labels(entry).observe(len(decisions))
    RESOLUTION_BATCH_SECONDS.labels(entry).observe(seconds)
    count_decisions(actor, decisions)


def count_decisions(actor: str, decisions: Sequence[str]) -> None:
    """Decisions made outside a committed batch too (a signal refused on its own)."""
    entry = entry_point(actor)
    for decision, count in collections.Counter(decisions).items():
        SIGNALS_RESOLVED.labels(entry, decision).inc(count)


def metrics_exposition(review_backlog: dict[str, int] | None = None) -> bytes:
    """The Prometheus text for `/metrics`: this process's metrics, or every server process's,
    and the open review items by risk when the database could tell (read at each scrape: a
    figure of the store, not of a process)."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest()
    if review_backlog is None:
        return text
    backlog = CollectorRegistry()
    backlog.register(_ReviewBacklog(review_backlog))
    return text + generate_latest(backlog)


class _ReviewBacklog(Collector):
    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "mds_review_items_open", "Open review items (the stewards' backlog)", labels=["risk"]
        )
        for risk, count in sorted(self.counts.items()):
            family.add_metric([risk], count)
        yield family


def forget_this_process() -> None:
    """At a server process's exit: its live gauges no longer count (counters keep counting)."""
    if os.environ.get(MULTIPROCESS_DIR):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
