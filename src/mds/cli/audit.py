"""`mds audit verify` and `mds retention run`: the audit trail's integrity and retention."""

from __future__ import annotations

import getpass
import time
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from mds.cli.common import cli_console, engine_for_cli, settings_for_cli
from mds.config import Settings
from mds.services import audit as audit_service
from mds.store import migrate
from mds.store.database import make_session_factory

app = typer.Typer(help="The audit trail.", no_args_is_help=True)
retention_app = typer.Typer(help="Audit trail retention.", no_args_is_help=True)
console = cli_console()  # one problem per line, however long
_errors = cli_console(stderr=True)


def _sessions(settings: Settings) -> audit_service.SessionFactory:
    engine = engine_for_cli(settings)
    if settings.auto_migrate:
        migrate.upgrade(engine, settings)
    return make_session_factory(engine)


@app.command()
def verify() -> None:
    """Recompute the hash chain; exit 1 naming each seq that was edited, deleted or reordered."""
    sessions = _sessions(settings_for_cli())
    started = time.monotonic()
    report = audit_service.verify_trail(sessions)
    elapsed = time.monotonic() - started
    summary = f"{report.rows_checked} row(s) checked up to seq {report.last_seq} in {elapsed:.2f}s"
    if report.intact:
        console.print(f"audit trail intact: {summary}")
        return
    for problem in report.problems:
        console.print(f"[red]{problem.describe()}[/red]", highlight=False)
    if report.problem_count > len(report.problems):
        console.print(f"… and {report.problem_count - len(report.problems)} more")
    console.print(
        f"[red]audit trail NOT intact:[/red] {report.problem_count} problem(s); {summary}"
    )
    raise typer.Exit(1)


@retention_app.command("run")
def run(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list the partitions that would be dropped")
    ] = False,
    years: Annotated[
        int | None,
        typer.Option(help="Retention in years (default MDS_AUDIT_RETENTION_YEARS; at least 7)"),
    ] = None,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Drop even if the rows to drop do not verify")
    ] = False,
) -> None:
    """Drop audit partitions entirely older than the retention, keeping their anchor hashes."""
    settings = settings_for_cli()
    retention = settings.audit_retention_years if years is None else years
    try:
        audit_service.check_retention(retention)
    except audit_service.RetentionRefusedError as exc:
        _errors.print(f"[red]refused:[/red] {exc.detail}")
        raise typer.Exit(2) from None
    sessions = _sessions(settings)
    try:
        result = audit_service.run_retention(
            sessions,
            retention,
            actor=f"cli:{getpass.getuser()}",
            dry_run=dry_run,
            verify_first=not no_verify,
            lock_timeout_ms=settings.migration_lock_timeout_ms,
        )
    except audit_service.RetentionRefusedError as exc:
        _errors.print(f"[red]refused:[/red] {exc.detail}")
        raise typer.Exit(1) from None
    except DBAPIError as exc:
        # The drop function's own refusals, a missing EXECUTE grant, or lock_timeout.
        _errors.print(f"[red]refused by the database:[/red] {exc.orig}")
        raise typer.Exit(1) from None
    cutoff = result.cutoff.isoformat(timespec="seconds")
    if not result.candidates:
        console.print(f"nothing to drop: no partition ends before {cutoff} ({retention} years)")
        return
    table = Table("partition", "from", "to", "rows")
    for candidate in result.candidates:
        part = candidate.partition
        table.add_row(
            part.name,
            part.range_start.date().isoformat(),
            part.range_end.date().isoformat(),
            str(candidate.rows),
        )
    console.print(table)
    if dry_run:
        console.print(f"dry run: {len(result.candidates)} partition(s) would be dropped")
        return
    if result.verified_rows:
        console.print(f"verified {result.verified_rows} row(s): those to drop and the one after")
    console.print(
        f"dropped {len(result.dropped)} partition(s) older than {cutoff};"
        " their anchors are in audit_anchors"
    )
