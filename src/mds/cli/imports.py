"""`mds import`: bulk-ingest signals from JSONL or CSV, with progress and per-line errors."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from mds.bootstrap import Runtime, build_runtime
from mds.cli.common import cli_console, settings_for_cli
from mds.cli.import_batches import BatchReport, import_batch
from mds.cli.import_workers import WorkerFailedError, WorkerPool, import_in_workers
from mds.gc_tuning import tune_for_resolution
from mds.services.signal_files import ParsedLine, UnknownColumnsError, read_csv, read_jsonl

err = cli_console(stderr=True)  # a rejected line's reason and the summary: one line each


class FileFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


def _lines(
    stream: IO[str], fmt: FileFormat, source: str | None, mapping: list[str]
) -> Iterator[ParsedLine]:
    if fmt is FileFormat.JSONL:
        if mapping:
            raise typer.BadParameter(
                "renames CSV columns; use it with --format csv", param_hint="--map"
            )
        return read_jsonl(stream, source_system=source)
    if not source:
        raise typer.BadParameter("--source is required with --format csv", param_hint="--source")
    malformed = [m for m in mapping if "=" not in m or not all(m.split("=", 1))]
    if malformed:
        raise typer.BadParameter(f"{malformed[0]!r} is not COLUMN=field", param_hint="--map")
    pairs = dict(m.split("=", 1) for m in mapping)
    try:
        return read_csv(
            stream,
            source_system=source,
            mapping=pairs,
            default_event_type="crm_import",
            default_occurred_at=datetime.now(UTC),
        )
    except UnknownColumnsError as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from None


def import_signals(
    file: Annotated[str, typer.Argument(help="Path to the file, or - for standard input")],
    *,
    fmt: Annotated[FileFormat, typer.Option("--format", help="jsonl or csv")] = FileFormat.JSONL,
    source: Annotated[
        str | None,
        typer.Option(
            help="the file's source_system: CSV rows and JSONL lines that name none take it;"
            " a JSONL line naming another is rejected"
        ),
    ] = None,
    mapping: Annotated[
        list[str] | None, typer.Option("--map", help="CSV column rename, COLUMN=field (repeat)")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Signals per transaction (default MDS_INGEST_BATCH_SIZE)")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Processes resolving in parallel (default MDS_IMPORT_WORKERS); records that"
            " share an email, phone or name with birth date go to the same one",
        ),
    ] = None,
) -> None:
    """Resolve every signal in FILE; report bad lines by number; exit 1 if any line failed."""
    settings = settings_for_cli()
    runtime = build_runtime(settings)
    tune_for_resolution()
    size = batch_size or settings.ingest_batch_size
    workers = workers or settings.import_workers
    path = None if file == "-" else Path(file)
    if path is not None and not path.exists():
        raise typer.BadParameter(f"no such file: {path}", param_hint="FILE")
    total = _count_lines(path) if path else None
    stream = sys.stdin if path is None else path.open(encoding="utf-8", newline="")
    actor = f"import:{file}"
    tally = _Tally(_progress_bar(), total)
    try:
        lines = tally.parsed(_lines(stream, fmt, source, mapping or []))
        load = _Load(size, total, actor, lines, tally.advance)
        if workers == 1:
            _import_in_process(runtime, tally.progress, load)
        else:
            _import_in_workers(workers, runtime, tally.progress, load)
    finally:
        if path is not None:
            stream.close()
        runtime.close()
    tally.summarize()
    if tally.failed:
        raise typer.Exit(1)


class _Tally:
    """The progress bar and the count of what became of each line, reported as it happens."""

    def __init__(self, progress: Progress, total: int | None) -> None:
        self.progress = progress
        self.task = progress.add_task("import", total=total, rate=0.0)
        self.started = datetime.now(UTC)
        self.resolved: Counter[str] = Counter()
        self.unparsed = 0
        self.refused: list[int] = []  # parsed, not stored (reported by a worker's thread)

    @property
    def failed(self) -> int:
        return self.unparsed + len(self.refused)

    def parsed(self, lines: Iterator[ParsedLine]) -> Iterator[ParsedLine]:
        """The lines that hold a signal; the others reported by number and counted."""
        for line in lines:
            if line.signal is not None:
                yield line
                continue
            self.unparsed += 1
            detail = "; ".join(f"{e['field'] or 'line'}: {e['message']}" for e in line.errors)
            err.print(f"line {line.number}: rejected: {detail}", highlight=False)
            self.progress.update(self.task, advance=1)

    def advance(self, report: BatchReport) -> None:
        self.resolved.update(report.decisions)
        for number, why in report.refused:
            self.refused.append(number)
            err.print(f"line {number}: rejected: {why}", highlight=False)
        elapsed = max((datetime.now(UTC) - self.started).total_seconds(), 1e-6)
        done = report.decisions.total() + len(report.refused)
        self.progress.update(self.task, advance=done, rate=self.resolved.total() / elapsed)

    def summarize(self) -> None:
        elapsed = max((datetime.now(UTC) - self.started).total_seconds(), 1e-6)
        accepted = self.resolved.total()
        summary = ", ".join(f"{k} {v}" for k, v in sorted(self.resolved.items())) or "nothing"
        err.print(
            f"imported {accepted} signal(s) in {elapsed:.1f}s ({accepted / elapsed:.0f}/s):"
            f" {summary}; rejected lines: {self.failed}",
            highlight=False,
        )


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]import"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.0f} signals/s"),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    )


def _batches(lines: Iterator[ParsedLine], size: int) -> Iterator[list[ParsedLine]]:
    batch: list[ParsedLine] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True)
class _Load:
    """What either way of importing needs: batch size, expected count, actor, the parsed
    lines, and where to report each batch's decisions."""

    size: int
    total: int | None
    actor: str
    lines: Iterator[ParsedLine]
    advance: Callable[[BatchReport], None]


def _import_in_process(runtime: Runtime, progress: Progress, load: _Load) -> None:
    service = runtime.ingest_service()
    if load.total:
        service.expect_load(load.total)
    with progress:
        for batch in _batches(load.lines, load.size):
            load.advance(import_batch(service, batch, load.actor))


def _import_in_workers(workers: int, runtime: Runtime, progress: Progress, load: _Load) -> None:
    # The workers connect on their own, to the database this process resolved (an embedded
    # server stays up while this process holds it); no connection crosses the fork.
    url = runtime.engine.url.render_as_string(hide_password=False)
    runtime.engine.dispose()
    settings = runtime.settings.model_copy(update={"database_url": url})
    pool = WorkerPool(settings, workers, load.size, load.total, load.actor, load.advance)
    pool.start()  # before the progress bar's refresh thread: no thread may be running at a fork
    try:
        with progress:
            today = datetime.now(UTC).date()
            import_in_workers(pool, load.lines, settings.default_region, today)
            pool.finish()
    except WorkerFailedError as exc:
        pool.stop()
        err.print(f"a worker failed; signals it had not committed were not imported:\n{exc}")
        raise typer.Exit(1) from None
    except BaseException:
        pool.stop()
        raise


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())
