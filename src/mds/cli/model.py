"""`mds model …`: train matching parameters by EM, list versions, rebuild match keys."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from mds.cli.common import cli_console, cli_runtime
from mds.matching.comparisons import COMPARISONS
from mds.services.rekeying import RekeyProgress, normalizing, rebuild_match_keys
from mds.services.training import MIN_LINKED_PAIRS, train_model
from mds.store.models import MatchModel

app = typer.Typer(help="Matching model: EM training, versions, match keys.", no_args_is_help=True)
console = cli_console()


@app.command("train")
def train_command(
    sample_keys: Annotated[int, typer.Option(help="Blocking keys to sample pairs from")] = 20_000,
    activate: Annotated[bool, typer.Option(help="Make the new version the active one")] = True,
    dry_run: Annotated[bool, typer.Option(help="Train and print, store nothing")] = False,
    min_linked_pairs: Annotated[
        int,
        typer.Option(
            min=0, help="Candidate pairs within one user needed to learn m (refuse below)"
        ),
    ] = MIN_LINKED_PAIRS,
) -> None:
    """Measure u on random pairs and estimate m and the prior by EM on candidate pairs in the
    store; store a new version."""
    with cli_runtime() as runtime:
        try:
            report = train_model(
                runtime.sessions,
                runtime.keyring,
                sample_keys=sample_keys,
                activate=activate,
                dry_run=dry_run,
                min_linked_pairs=min_linked_pairs,
            )
        except ValueError as exc:
            console.print(f"[red]cannot train:[/red] {exc}")
            raise typer.Exit(1) from None
    params = report.result.parameters
    table = Table("field", "level", "m", "u", "weight (bits)")
    for comparison in COMPARISONS:
        for level in comparison.levels:
            table.add_row(
                comparison.field,
                level,
                f"{params.m[comparison.field][level]:.4f}",
                f"{params.u[comparison.field][level]:.6f}",
                f"{params.weight(comparison.field, level):+.2f}",
            )
    console.print(table)
    status = "converged" if report.result.converged else "did not converge"
    console.print(
        f"{report.result.pairs} pairs, {report.result.iterations} iterations ({status});"
        f" prior {params.prior:.6f}"
    )
    if report.version is not None:
        console.print(f"stored as version {report.version}{' (active)' if activate else ''}")


@app.command("list")
def list_command() -> None:
    """Model versions, newest first."""
    with cli_runtime() as runtime:
        table = Table("version", "active", "created", "description")
        with runtime.sessions() as session:
            for model in session.scalars(select(MatchModel).order_by(MatchModel.version.desc())):
                table.add_row(
                    str(model.version),
                    "yes" if model.is_active else "",
                    model.created_at.isoformat(timespec="seconds"),
                    model.description or "",
                )
    console.print(table)


@app.command("rebuild-keys")
def rebuild_keys_command(
    chunk: Annotated[int, typer.Option(min=1, help="Identities per transaction")] = 2_000,
    renormalize: Annotated[
        bool,
        typer.Option(
            "--renormalize",
            help="First make each identity's comparison record and data-quality issues again"
            " from its raw attributes (after an upgrade that normalizes differently)",
        ),
    ] = False,
) -> None:
    """Make every identity's match keys again with this version's blocking rules (after an
    upgrade that adds a kind of key). Safe while ingest runs."""
    started = time.monotonic()

    def changed(progress: RekeyProgress) -> str:
        records = f", {progress.records:,} records renormalized" if renormalize else ""
        return f"{progress.keys:,} keys changed{records}"

    def report(progress: RekeyProgress) -> None:
        rate = progress.identities / max(time.monotonic() - started, 1e-9)
        console.print(f"{progress.identities:,} identities, {changed(progress)} ({rate:,.0f}/s)")

    with cli_runtime() as runtime:
        normalize = (
            normalizing(runtime.settings.default_region, datetime.now(UTC).date())
            if renormalize
            else None
        )
        done = rebuild_match_keys(
            runtime.sessions, runtime.keyring, chunk=chunk, on_chunk=report, normalize=normalize
        )
    console.print(f"rebuilt the keys of {done.identities:,} identities ({changed(done)})")
