"""The `mds` command line: one module per command group."""

from __future__ import annotations

import sys

import typer

from mds.cli import (
    audit,
    cdc,
    db,
    export,
    imports,
    keys,
    model,
    recompute,
    review,
    serve,
    streaming,
    token,
)
from mds.cli.common import cli_console
from mds.config import SettingsError
from mds.security.errors import SecurityError

app = typer.Typer(
    name="mds",
    help="Master Data Service: the canonical record of every Meetinity user.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve.serve)
app.command("import")(imports.import_signals)
app.command("relay")(streaming.relay)
app.command("worker")(streaming.worker)
app.command("recompute")(recompute.recompute)
app.add_typer(export.app, name="export")
app.add_typer(model.app, name="model")
app.add_typer(db.app, name="db")
app.add_typer(keys.app, name="keys")
app.add_typer(token.app, name="token")
app.add_typer(review.app, name="review")
app.add_typer(cdc.app, name="cdc")
app.add_typer(audit.app, name="audit")
app.add_typer(audit.retention_app, name="retention")

_stderr = cli_console(stderr=True)


def main() -> None:
    try:
        app()
    except SettingsError as exc:
        _stderr.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
    except SecurityError as exc:
        _stderr.print(f"[red]error:[/red] {exc}")
        sys.exit(3)
