"""`mds serve`: run the API, optionally over TLS with required client certificates (mTLS)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Annotated, Any

import typer

from mds.api.auth import build_token_verifier
from mds.api.tls import TlsHttpProtocol
from mds.cli import serve_processes
from mds.config import SettingsError, get_settings
from mds.observability import configure_logging


def _pem(help_text: str) -> Any:
    return typer.Option(help=help_text, exists=True, dir_okay=False, readable=True)


def tls_options(cert: Path | None, key: Path | None, client_ca: Path | None) -> dict[str, Any]:
    """uvicorn keyword arguments for TLS; with a client CA, a verified client cert is required."""
    if cert is None:
        if key or client_ca:
            raise SettingsError("--tls-key and --tls-client-ca need --tls-cert (MDS_TLS_CERT)")
        return {}
    options: dict[str, Any] = {
        "ssl_certfile": str(cert),
        "ssl_keyfile": str(key) if key else None,
        # Puts the verified client certificate into each request's scope (see mds.api.tls).
        "http": TlsHttpProtocol,
    }
    if client_ca:
        options.update(ssl_ca_certs=str(client_ca), ssl_cert_reqs=ssl.CERT_REQUIRED)
    return options


def serve(
    *,
    host: Annotated[str | None, typer.Option(help="Bind address (default MDS_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default MDS_PORT)")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes, each with its own listener (one per core)")
    ] = 1,
    tls_cert: Annotated[
        Path | None, _pem("Server certificate chain, PEM (default MDS_TLS_CERT)")
    ] = None,
    tls_key: Annotated[Path | None, _pem("Server private key, PEM (default MDS_TLS_KEY)")] = None,
    tls_client_ca: Annotated[
        Path | None,
        _pem("CA bundle that must have issued the client's certificate (MDS_TLS_CLIENT_CA)"),
    ] = None,
    relay: Annotated[
        bool, typer.Option(help="Run the outbox relay in-process when KAFKA_BROKERS is set")
    ] = True,
    worker: Annotated[
        bool, typer.Option(help="Run the ingestion worker in-process when KAFKA_BROKERS is set")
    ] = True,
) -> None:
    """Start the HTTP API (and, with the embedded default, its PostgreSQL)."""
    # The app is imported by uvicorn (by name, in each worker process): it reads these.
    if not relay:
        os.environ["MDS_SERVE_RELAY"] = "false"
    if not worker:
        os.environ["MDS_SERVE_WORKER"] = "false"
    get_settings.cache_clear()
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    tls = tls_options(
        tls_cert or settings.tls_cert,
        tls_key or settings.tls_key,
        tls_client_ca or settings.tls_client_ca,
    )
    # Fail now, not on the first request, if the token keys are unusable (e.g. a 0644 key file).
    build_token_verifier(settings)
    serve_processes.run(
        "mds.main:app",
        workers,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        proxy_headers=False,
        **tls,
    )
