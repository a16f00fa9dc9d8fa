"""One batch of `mds import`: its lines resolved, its decisions counted, the lines refused."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from mds.domain.signals import Signal
from mds.services.ingest import IngestService
from mds.services.resolution.outcomes import Status
from mds.services.signal_files import ParsedLine


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
    signals = [signal_of(line) for line in lines]
    report = BatchReport()
    for line, outcome in zip(lines, service.ingest_isolated(signals, actor=actor), strict=True):
        if outcome.status is Status.REJECTED:
            report.refused.append((line.number, outcome.error_text()))
        else:
            report.decisions[str(outcome.status)] += 1
    return report
