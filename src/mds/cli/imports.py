"""`mds import`: bulk-ingest signals from JSONL or CSV, with progress and per-line errors."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from mds.bootstrap import build_runtime
from mds.cli.common import settings_for_cli
from mds.cli.import_workers import ImportWorkers, InProcess
from mds.domain.signals import Signal
from mds.services.signal_files import ParsedLine, read_csv, read_jsonl

err = Console(stderr=True)


class FileFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


def _lines(
    stream: IO[str], fmt: FileFormat, source: str | None, mapping: list[str]
) -> Iterator[ParsedLine]:
    if fmt is FileFormat.JSONL:
        return read_jsonl(stream)
    if not source:
        raise typer.BadParameter("--source is required with --format csv", param_hint="--source")
    pairs = dict(m.split("=", 1) for m in mapping if "=" in m)
    return read_csv(
        stream,
        source_system=source,
        mapping=pairs,
        default_event_type="crm_import",
        default_occurred_at=datetime.now(UTC),
    )


@dataclass
class _Tally:
    """What the import decided so far, shown on the progress bar and summed up at the end."""

    progress: Progress
    task: TaskID
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    decisions: Counter[str] = field(default_factory=Counter)
    failed: int = 0

    def resolved(self, batches: list[list[str]]) -> None:
        for statuses in batches:
            self.decisions.update(statuses)
            self.progress.update(self.task, advance=len(statuses), rate=self.rate())

    def rejected(self, line: ParsedLine) -> None:
        self.failed += 1
        detail = "; ".join(f"{e['field'] or 'line'}: {e['message']}" for e in line.errors)
        err.print(f"line {line.number}: rejected: {detail}", highlight=False)
        self.progress.update(self.task, advance=1)

    def rate(self) -> float:
        elapsed = max((datetime.now(UTC) - self.started).total_seconds(), 1e-6)
        return sum(self.decisions.values()) / elapsed

    def summary(self) -> str:
        elapsed = (datetime.now(UTC) - self.started).total_seconds()
        accepted = sum(self.decisions.values())
        decided = ", ".join(f"{k} {v}" for k, v in sorted(self.decisions.items())) or "nothing"
        return (
            f"imported {accepted} signal(s) in {elapsed:.1f}s ({self.rate():.0f}/s):"
            f" {decided}; rejected lines: {self.failed}"
        )


def import_signals(
    file: Annotated[str, typer.Argument(help="Path to the file, or - for standard input")],
    *,
    fmt: Annotated[FileFormat, typer.Option("--format", help="jsonl or csv")] = FileFormat.JSONL,
    source: Annotated[
        str | None, typer.Option(help="source_system for CSV rows that do not name one")
    ] = None,
    mapping: Annotated[
        list[str] | None, typer.Option("--map", help="CSV column rename, COLUMN=field (repeat)")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Signals per transaction (default MDS_INGEST_BATCH_SIZE)")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes resolving batches in parallel")
    ] = 1,
) -> None:
    """Resolve every signal in FILE; report bad lines by number; exit 1 if any line failed."""
    settings = settings_for_cli()
    runtime = build_runtime(settings)
    size = batch_size or settings.ingest_batch_size
    path = None if file == "-" else Path(file)
    if path is not None and not path.exists():
        raise typer.BadParameter(f"no such file: {path}", param_hint="FILE")
    total = _count_lines(path) if path else None
    stream = sys.stdin if path is None else path.open(encoding="utf-8", newline="")
    progress = Progress(
        TextColumn("[bold]import"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.0f} signals/s"),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    )
    actor = f"import:{file}"
    batches: InProcess | ImportWorkers = (
        ImportWorkers(workers, actor) if workers > 1 else InProcess(runtime.ingest_service(), actor)
    )
    pending: list[Signal] = []
    try:
        with progress:
            tally = _Tally(progress, progress.add_task("import", total=total, rate=0.0))
            for line in _lines(stream, fmt, source, mapping or []):
                if line.signal is None:
                    tally.rejected(line)
                    continue
                pending.append(line.signal)
                if len(pending) >= size:
                    tally.resolved(batches.submit(pending))
                    pending = []
            if pending:
                tally.resolved(batches.submit(pending))
            tally.resolved(batches.drain())
    finally:
        batches.close()
        if path is not None:
            stream.close()
        runtime.close()
    err.print(tally.summary(), highlight=False)
    if tally.failed:
        raise typer.Exit(1)


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())
