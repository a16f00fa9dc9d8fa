"""What every command shares: settings, logging, the database engine.

The database and service modules are imported by the functions that need them, so that a
command that needs none (`mds token issue`, `--help`) does not wait for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console

from mds.config import LogFormat, Settings, load_settings
from mds.observability import configure_logging

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from mds.bootstrap import Runtime


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
    from mds.bootstrap import connect  # noqa: PLC0415

    return connect(settings)


@contextmanager
def cli_runtime() -> Iterator[Runtime]:
    """Settings, database (migrated), keyring for one command; closed on the way out."""
    from mds.bootstrap import build_runtime  # noqa: PLC0415
    from mds.gc_tuning import tune_for_resolution  # noqa: PLC0415

    runtime = build_runtime(settings_for_cli())
    tune_for_resolution()
    try:
        yield runtime
    finally:
        runtime.close()
