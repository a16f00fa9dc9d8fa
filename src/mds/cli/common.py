"""What every command shares: settings, logging, the database engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from sqlalchemy import Engine

from mds.bootstrap import Runtime, build_runtime, connect
from mds.config import LogFormat, Settings, load_settings
from mds.gc_tuning import tune_for_resolution
from mds.observability import configure_logging


def cli_console(*, stderr: bool = False, highlight: bool = True) -> Console:
    """A console whose lines are not wrapped at its width: in a pipe or a log file (80 columns
    there) a message or summary stays one line, for grep; a terminal wraps them itself."""
    return Console(stderr=stderr, highlight=highlight, soft_wrap=True)


def settings_for_cli() -> Settings:
    settings = load_settings()
    # Commands print for people; logs go to stderr in the readable form unless asked otherwise.
    configure_logging("WARNING", LogFormat.CONSOLE)
    return settings


def engine_for_cli(settings: Settings) -> Engine:
    return connect(settings)


@contextmanager
def cli_runtime() -> Iterator[Runtime]:
    """Settings, database (migrated), keyring for one command; closed on the way out."""
    runtime = build_runtime(settings_for_cli())
    tune_for_resolution()
    try:
        yield runtime
    finally:
        runtime.close()
