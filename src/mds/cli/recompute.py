"""`mds recompute`: compare every live user with its candidates again, under today's model."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Annotated

import typer

from mds.bootstrap import Runtime
from mds.cli.common import cli_console, cli_runtime
from mds.cli.recompute_workers import PassOptions, RecomputeWorkerError, recompute_in_workers
from mds.services.recompute import (
    CHUNK,
    Recompute,
    RecomputeProgress,
    RecomputeRunningError,
    running_alone,
    split_points,
)

console = cli_console()


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
    after: Annotated[
        str | None,
        typer.Option(help="Start after this user id (the last one an interrupted run printed)"),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(min=1, help="Processes, each walking its own range of user ids"),
    ] = 1,
) -> None:
    """Score every live user against its candidates with the active model and propose what it
    links or doubts to the review queue (nightly, after `mds model train`, after a change of
    thresholds or of blocking rules). Safe while ingest runs; one run at a time."""
    try:
        start = uuid.UUID(after) if after else None
    except ValueError:
        console.print(f"[red]--after is not a user id:[/red] {after!r}")
        raise typer.Exit(2) from None
    started = time.monotonic()
    last: list[RecomputeProgress] = [RecomputeProgress(last_user=start)]

    def report(progress: RecomputeProgress) -> None:
        last[0] = progress
        rate = progress.users / max(time.monotonic() - started, 1e-9)
        resume = f"; last user {progress.last_user}" if progress.last_user else ""
        console.print(
            f"{progress.users:,} users, {progress.pairs:,} pairs scored,"
            f" {progress.proposed:,} proposed, {progress.merged:,} merged"
            f" ({rate:,.0f} users/s{resume})"
        )

    with cli_runtime() as runtime:
        try:
            if workers > 1:
                options = PassOptions(merge=merge, dry_run=dry_run, chunk=chunk)
                done = _in_workers(runtime, workers, start, options, report)
            else:
                service = Recompute(
                    runtime.sessions,
                    runtime.keyring,
                    runtime.resolution_config(),
                    merge=merge,
                    dry_run=dry_run,
                    chunk=chunk,
                )
                done = service.run(report, after=start, engine=runtime.engine)
        except RecomputeRunningError as exc:
            console.print(f"[red]not started:[/red] {exc}")
            raise typer.Exit(1) from None
        except RecomputeWorkerError as exc:
            console.print(f"[red]a worker failed:[/red] {exc}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            resume = f" --after {last[0].last_user}" if last[0].last_user else ""
            resume += f" --workers {workers}" if workers > 1 else ""
            console.print(f"interrupted; resume with `mds recompute{resume}`")
            raise typer.Exit(130) from None
    would = "would be " if dry_run else ""
    console.print(
        f"compared {done.users:,} users ({done.pairs:,} pairs): {done.proposed:,} review items"
        f" {would}opened, {done.merged:,} merges {would}made"
    )


def _in_workers(
    runtime: Runtime,
    workers: int,
    start: uuid.UUID | None,
    options: PassOptions,
    report: Callable[[RecomputeProgress], None],
) -> RecomputeProgress:
    """The pass cut into `workers` ranges of user ids, one process each; this process holds
    the one-run-at-a-time lock for them all."""
    with running_alone(runtime.engine):
        with runtime.sessions() as session:
            bounds = split_points(session, workers, start)
        return recompute_in_workers(runtime.settings, bounds, options, report)
