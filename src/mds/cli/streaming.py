"""`mds relay` and `mds worker`: the propagation processes, stopped cleanly by SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from mds.bootstrap import Runtime
from mds.cli.common import cli_console, cli_runtime
from mds.config import OutboxMode
from mds.streaming.kafka import ensure_topics

_errors = cli_console(stderr=True)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def _require_kafka(runtime: Runtime) -> None:
    if not runtime.settings.kafka_brokers:
        _errors.print("[red]error:[/red] KAFKA_BROKERS is not set")
        raise typer.Exit(2)


def relay(
    create_topics: Annotated[
        bool, typer.Option(help="Create the user topic if it does not exist")
    ] = True,
) -> None:
    """Publish committed outbox events to Kafka (one leader at a time; others stand by)."""
    stop = _stop_on_signals()  # first: a SIGTERM during start-up is a clean stop too
    with cli_runtime() as runtime:
        _require_kafka(runtime)
        if runtime.settings.outbox_mode is OutboxMode.DEBEZIUM:
            _errors.print(
                "[red]error:[/red] MDS_OUTBOX_MODE=debezium: Debezium publishes the events and"
                " the outbox keeps no rows for a relay"
            )
            raise typer.Exit(2)
        if create_topics:
            ensure_topics(runtime.settings, [runtime.settings.user_topic])
        runtime.relay().run(stop)


def worker(
    create_topics: Annotated[
        bool, typer.Option(help="Create the signal and dead-letter topics if missing")
    ] = True,
) -> None:
    """Consume signals from MDS_INGEST_TOPICS and resolve them in micro-batches."""
    stop = _stop_on_signals()
    with cli_runtime() as runtime:
        _require_kafka(runtime)
        settings = runtime.settings
        if create_topics:
            ensure_topics(settings, [*settings.ingest_topic_list, settings.dead_letter_topic])
        runtime.worker().run(stop)
