"""`mds db …`: migrations, the drift check, and where the database is."""

from __future__ import annotations

from typing import Annotated

import typer

from mds.cli.common import cli_console, engine_for_cli, settings_for_cli
from mds.store import migrate
from mds.store.database import resolve_database_url

app = typer.Typer(help="Database schema and connection.", no_args_is_help=True)
console = cli_console()


@app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
) -> None:
    """Apply migrations (serialized across replicas by an advisory lock)."""
    settings = settings_for_cli()
    reached = migrate.upgrade(engine_for_cli(settings), settings, revision)
    console.print(f"database at revision {reached}")


@app.command()
def check() -> None:
    """Fail when the database is not at head or the models and migrations disagree."""
    settings = settings_for_cli()
    report = migrate.check(engine_for_cli(settings))
    if report.current != report.head:
        console.print(f"[red]not at head:[/red] current {report.current}, head {report.head}")
    for difference in report.differences:
        console.print(f"[red]drift:[/red] {difference}")
    if not report.clean:
        raise typer.Exit(1)
    console.print(f"schema matches models at revision {report.head}")


@app.command()
def current() -> None:
    """Print the database's current revision and the head."""
    settings = settings_for_cli()
    with engine_for_cli(settings).connect() as conn:
        console.print(f"current {migrate.current_revision(conn)} head {migrate.head_revision()}")


@app.command()
def url() -> None:
    """Print the connection URL in use (starting the embedded server when needed)."""
    settings = settings_for_cli()
    print(resolve_database_url(settings).replace("postgresql+psycopg", "postgresql", 1))
