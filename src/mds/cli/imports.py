"""`mds import`: bulk-ingest signals from JSONL or CSV, with progress and per-line errors."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
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
from mds.domain.signals import Signal
from mds.gc_tuning import tune_for_resolution
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


def import_signals(
    file: Annotated[str, typer.Argument(help="Path to the file, or - for standard input")],
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
) -> None:
    """Resolve every signal in FILE; report bad lines by number; exit 1 if any line failed."""
    settings = settings_for_cli()
    runtime = build_runtime(settings)
    tune_for_resolution()
    service = runtime.ingest_service()
    size = batch_size or settings.ingest_batch_size
    path = None if file == "-" else Path(file)
    if path is not None and not path.exists():
        raise typer.BadParameter(f"no such file: {path}", param_hint="FILE")
    total = _count_lines(path) if path else None
    if total:
        service.expect_load(total)
    stream = sys.stdin if path is None else path.open(encoding="utf-8", newline="")
    decisions: Counter[str] = Counter()
    failed = 0
    pending: list[Signal] = []
    progress = Progress(
        TextColumn("[bold]import"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.0f} signals/s"),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    )
    started = datetime.now(UTC)

    def flush(task: TaskID) -> None:
        if pending:
            for outcome in service.ingest(pending, actor=f"import:{file}"):
                decisions[str(outcome.status)] += 1
            elapsed = max((datetime.now(UTC) - started).total_seconds(), 1e-6)
            progress.update(task, advance=len(pending), rate=sum(decisions.values()) / elapsed)
            pending.clear()

    try:
        with progress:
            task = progress.add_task("import", total=total, rate=0.0)
            for line in _lines(stream, fmt, source, mapping or []):
                if line.signal is None:
                    failed += 1
                    detail = "; ".join(
                        f"{e['field'] or 'line'}: {e['message']}" for e in line.errors
                    )
                    err.print(f"line {line.number}: rejected: {detail}", highlight=False)
                    progress.update(task, advance=1)
                    continue
                pending.append(line.signal)
                if len(pending) >= size:
                    flush(task)
            flush(task)
    finally:
        if path is not None:
            stream.close()
        runtime.close()
    elapsed = (datetime.now(UTC) - started).total_seconds()
    accepted = sum(decisions.values())
    summary = ", ".join(f"{k} {v}" for k, v in sorted(decisions.items())) or "nothing"
    err.print(
        f"imported {accepted} signal(s) in {elapsed:.1f}s ({accepted / max(elapsed, 1e-6):.0f}/s):"
        f" {summary}; rejected lines: {failed}",
        highlight=False,
    )
    if failed:
        raise typer.Exit(1)


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())
