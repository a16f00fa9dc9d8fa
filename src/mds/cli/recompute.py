"""`mds recompute`: compare every live user with its candidates again, under today's model."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console

from mds.cli.common import cli_runtime
from mds.services.recompute import CHUNK, Recompute, RecomputeProgress

console = Console()


def recompute(
    merge: Annotated[
        bool,
        typer.Option(
            help="Merge the pairs the policy links cleanly (as a signal linking both would);"
            " without it they are proposed to the review queue"
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            help="Count what would be proposed and merged, store nothing (each chunk is"
            " rolled back, so a later chunk does not see an earlier one's merges)"
        ),
    ] = False,
    chunk: Annotated[int, typer.Option(min=1, help="Users per transaction")] = CHUNK,
) -> None:
    """Score every live user against its candidates with the active model and propose what it
    links or doubts to the review queue (nightly, after `mds model train`, after a change of
    thresholds or of blocking rules). Safe while ingest runs."""
    started = time.monotonic()

    def report(progress: RecomputeProgress) -> None:
        rate = progress.users / max(time.monotonic() - started, 1e-9)
        console.print(
            f"{progress.users:,} users, {progress.pairs:,} pairs scored,"
            f" {progress.proposed:,} proposed, {progress.merged:,} merged ({rate:,.0f} users/s)"
        )

    with cli_runtime() as runtime:
        done = Recompute(
            runtime.sessions,
            runtime.keyring,
            runtime.resolution_config(),
            merge=merge,
            dry_run=dry_run,
            chunk=chunk,
        ).run(on_chunk=report)
    would = "would be " if dry_run else ""
    console.print(
        f"compared {done.users:,} users ({done.pairs:,} pairs): {done.proposed:,} review items"
        f" {would}opened, {done.merged:,} merges {would}made"
    )
