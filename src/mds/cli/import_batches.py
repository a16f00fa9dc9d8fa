"""One batch of `mds import`: its lines resolved, its decisions counted, the lines refused."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy.exc import InterfaceError, OperationalError

from mds.domain.signals import Signal
from mds.services.ingest import IngestService
from mds.services.resolution.outcomes import Status
from mds.services.signal_files import ParsedLine

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class BatchReport:
    decisions: Counter[str] = field(default_factory=Counter)
    # (line number, why) of each line parsed but refused: from the future, unstorable, or one
    # whose resolution failed
    refused: list[tuple[int, str]] = field(default_factory=list)


def signal_of(line: ParsedLine) -> Signal:
    if line.signal is None:
        raise ValueError(f"line {line.number} holds no signal: only parsed lines are imported")
    return line.signal


def import_batch(service: IngestService, lines: Sequence[ParsedLine], actor: str) -> BatchReport:
    report = BatchReport()
    _resolve(service, lines, actor, report)
    return report


def _resolve(
    service: IngestService, lines: Sequence[ParsedLine], actor: str, report: BatchReport
) -> None:
    """A batch whose resolution fails (a defect, a record whose keys cannot be read) is split
    until the lines that fail stand alone: each is refused with the error, the rest go on, as
    the Kafka worker dead-letters such a signal. A database that is away fails the import."""
    try:
        outcomes = service.ingest([signal_of(line) for line in lines], actor=actor)
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        if len(lines) > 1:
            half = len(lines) // 2
            _resolve(service, lines[:half], actor, report)
            _resolve(service, lines[half:], actor, report)
            return
        log.exception("import.resolution_failed", line=lines[0].number)
        report.refused.append((lines[0].number, f"resolution failed: {type(exc).__name__}: {exc}"))
        return
    for line, outcome in zip(lines, outcomes, strict=True):
        if outcome.status is Status.REJECTED:
            report.refused.append((line.number, outcome.error_text()))
        else:
            report.decisions[str(outcome.status)] += 1
