"""`mds serve`: run the API."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from mds.config import get_settings
from mds.observability import configure_logging


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default MDS_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default MDS_PORT)")] = None,
) -> None:
    """Start the HTTP API (and, with the embedded default, its PostgreSQL)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        "mds.main:app",
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        proxy_headers=False,
    )
