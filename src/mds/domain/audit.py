"""The audit trail's hash chain: each row's hash covers its content and the previous hash.

`ChainVerifier` checks a stream of rows in `seq` order without holding more than a small window
of hashes, so millions of rows verify in constant memory.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

GENESIS_HASH = bytes(32)
RETENTION_FLOOR_YEARS = 7
# How far back a broken link may point and still be recognized as a reordering.
REORDER_WINDOW = 1024


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited fact. `details` must not carry PII: ids, decisions, scores, field names."""

    actor: str
    action: str
    entity_type: str
    entity_id: str
    details: dict[str, Any] = field(default_factory=dict)


def row_hash(previous: bytes, seq: int, occurred_at: datetime, entry: AuditEntry) -> bytes:
    canonical = json.dumps(
        [
            seq,
            occurred_at.isoformat(),
            entry.actor,
            entry.action,
            entry.entity_type,
            entry.entity_id,
            entry.details,
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    ).encode()
    return hashlib.sha256(previous + canonical).digest()


def as_stored(entry: AuditEntry) -> AuditEntry:
    """The entry as it reads back from jsonb, so the hash computed at append time still matches.

    jsonb keeps numbers as `numeric` and prints them without exponent (1e20 comes back as an
    integer), has no -0, and has only string keys; anything else JSON cannot hold becomes str,
    as `row_hash` already treats it."""
    return replace(entry, details=_jsonb_value(entry.details))


def _jsonb_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_jsonb_key(k): _jsonb_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonb_value(v) for v in value]
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return _jsonb_float(value)
    return str(value)


def _jsonb_float(value: float) -> Any:
    if not math.isfinite(value):
        raise ValueError(f"audit details cannot hold {value!r}: jsonb has no such number")
    if value == 0:
        return 0.0
    written = repr(value)
    if "e" not in written:
        return value  # read back from jsonb as written: the common case, and the cheap one
    return json.loads(format(Decimal(written), "f"))


def _jsonb_key(key: Any) -> str:
    # As json.dumps writes keys: true/false/null, floats by repr, anything else by str.
    if isinstance(key, str):
        return key
    return json.dumps(key) if key is None or isinstance(key, bool | float) else str(key)


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One stored row as read back; `entry` holds its audited content."""

    seq: int
    occurred_at: datetime
    entry: AuditEntry
    prev_hash: bytes
    row_hash: bytes

    def content_intact(self) -> bool:
        # Rows are written with UTC timestamps; normalize in case the reader's zone differs.
        occurred = self.occurred_at.astimezone(UTC)
        return row_hash(self.prev_hash, self.seq, occurred, self.entry) == self.row_hash


@dataclass(frozen=True, slots=True)
class Anchor:
    """The chain ends of a dropped partition (see audit_anchors)."""

    partition: str
    row_count: int
    first_seq: int | None = None
    first_prev_hash: bytes | None = None
    last_seq: int | None = None
    last_row_hash: bytes | None = None


@dataclass(frozen=True, slots=True)
class ChainHead:
    last_seq: int
    last_hash: bytes


class ProblemKind(StrEnum):
    EDITED = "edited"  # the row's content no longer matches its own hash
    MISSING = "missing"  # seqs absent from the trail: deleted rows or a dropped partition
    REORDERED = "reordered"  # the row links to a row stored at another position
    BROKEN_LINK = "broken-link"  # prev_hash matches no row near it: a neighbour was rewritten
    DUPLICATE = "duplicate"  # a second row with the same seq: inserted
    HEAD_MISMATCH = "head-mismatch"  # the trail ends elsewhere than audit_chain says
    ANCHOR = "anchor"  # the anchors of dropped partitions do not chain


@dataclass(frozen=True, slots=True)
class Problem:
    kind: ProblemKind
    seq: int
    detail: str
    last_seq: int | None = None  # set for a range of missing seqs

    def describe(self) -> str:
        where = f"seq {self.seq}"
        if self.last_seq is not None and self.last_seq != self.seq:
            where = f"seqs {self.seq}-{self.last_seq}"
        return f"{where}: {self.kind.value}: {self.detail}"


@dataclass(frozen=True, slots=True)
class ChainStart:
    """Where the stored rows must pick up: after genesis or after the last anchor."""

    seq: int
    prev_hash: bytes


def check_anchors(anchors: Iterable[Anchor]) -> tuple[ChainStart, list[Problem]]:
    """Check anchors (oldest first) chain from genesis; return where stored rows must start."""
    start, problems = ChainStart(1, GENESIS_HASH), []
    for anchor in anchors:
        if anchor.row_count == 0:
            continue
        assert anchor.first_seq is not None and anchor.last_seq is not None
        assert anchor.first_prev_hash is not None and anchor.last_row_hash is not None
        name = anchor.partition
        if anchor.first_seq > start.seq:
            problems.append(
                Problem(
                    ProblemKind.MISSING,
                    start.seq,
                    f"in no stored row and no anchor (before dropped partition {name})",
                    anchor.first_seq - 1,
                )
            )
        elif anchor.first_seq < start.seq or anchor.first_prev_hash != start.prev_hash:
            problems.append(
                Problem(
                    ProblemKind.ANCHOR,
                    anchor.first_seq,
                    f"dropped partition {name} does not continue the chain before it",
                )
            )
        span = anchor.last_seq - anchor.first_seq + 1
        if span != anchor.row_count:
            problems.append(
                Problem(
                    ProblemKind.MISSING if span > anchor.row_count else ProblemKind.DUPLICATE,
                    anchor.first_seq,
                    f"dropped partition {name} held {anchor.row_count} rows for {span} seqs",
                    anchor.last_seq,
                )
            )
        start = ChainStart(anchor.last_seq + 1, anchor.last_row_hash)
    return start, problems


@dataclass
class VerifyReport:
    rows_checked: int
    problems: list[Problem]
    problem_count: int
    last_seq: int

    @property
    def intact(self) -> bool:
        return self.problem_count == 0


class ChainVerifier:
    """Feed rows in ascending `seq` (ties by time), then `finish`. Problems are reported per seq.

    Memory stays bounded: a window of recent hashes (to tell a reordering from a broken link) and
    at most `max_problems` kept problems (all are counted)."""

    def __init__(
        self, start: ChainStart, *, prior: Iterable[Problem] = (), max_problems: int = 1000
    ) -> None:
        self._start_seq = start.seq
        self._next_seq = start.seq
        self._targets = {start.prev_hash}  # row hashes of the rows at seq next-1
        self._recent: OrderedDict[bytes, int] = OrderedDict()  # row_hash -> seq
        # Rows whose prev_hash matched nothing yet: prev_hash -> (seq, content intact).
        self._dangling: OrderedDict[bytes, tuple[int, bool]] = OrderedDict()
        self._problems: list[Problem] = []
        self._count = 0
        self._max = max_problems
        self.rows_checked = 0
        for problem in prior:
            self._report(problem)

    def _report(self, problem: Problem) -> None:
        self._count += 1
        if len(self._problems) < self._max:
            self._problems.append(problem)

    def feed(self, row: AuditRow) -> None:
        self.rows_checked += 1
        intact = row.content_intact()
        last = self._next_seq - 1
        if row.seq < self._start_seq:
            detail = "stored, yet covered by the anchor of a dropped partition"
            self._report(Problem(ProblemKind.ANCHOR, row.seq, detail))
            return
        if row.seq <= last:
            # Input is in seq order, so this is a second row with the same seq.
            self._report(Problem(ProblemKind.DUPLICATE, row.seq, "a second row with this seq"))
            if intact:
                self._targets.add(row.row_hash)
            return
        linked = True
        if row.seq > self._next_seq:
            self._report(Problem(ProblemKind.MISSING, self._next_seq, "deleted", row.seq - 1))
        else:
            linked = row.prev_hash in self._targets
        self._resolve_dangling(row)
        if not linked:
            self._unlinked(row, intact)
        elif not intact:
            self._report(Problem(ProblemKind.EDITED, row.seq, "content does not match its hash"))
        self._remember(row)

    def _unlinked(self, row: AuditRow, intact: bool) -> None:
        earlier = self._recent.get(row.prev_hash)
        if earlier is not None:
            self._report(
                Problem(
                    ProblemKind.REORDERED,
                    row.seq,
                    f"its prev_hash is the hash of the row at seq {earlier}, not seq {row.seq - 1}",
                )
            )
        else:
            clash = self._dangling.pop(row.prev_hash, None)
            if clash is not None:  # two rows claim the same unknown predecessor
                self._report_unlinked(*clash)
            self._dangling[row.prev_hash] = (row.seq, intact)

    def _resolve_dangling(self, row: AuditRow) -> None:
        found = self._dangling.pop(row.row_hash, None)
        if found is not None:
            seq = found[0]
            detail = f"its prev_hash is the hash of the row at seq {row.seq}, not seq {seq - 1}"
            self._report(Problem(ProblemKind.REORDERED, seq, detail))
        while self._dangling:
            prev_hash, (seq, intact) = next(iter(self._dangling.items()))
            if seq > row.seq - REORDER_WINDOW:
                break
            del self._dangling[prev_hash]
            self._report_unlinked(seq, intact)

    def _report_unlinked(self, seq: int, intact: bool) -> None:
        if intact:
            detail = f"prev_hash is not the hash of seq {seq - 1}: one of the two was rewritten"
            self._report(Problem(ProblemKind.BROKEN_LINK, seq, detail))
        else:
            self._report(Problem(ProblemKind.EDITED, seq, "content does not match its hash"))

    def _remember(self, row: AuditRow) -> None:
        self._next_seq = row.seq + 1
        self._targets = {row.row_hash}
        self._recent[row.row_hash] = row.seq
        if len(self._recent) > REORDER_WINDOW:
            self._recent.popitem(last=False)

    def finish(self, head: ChainHead | None = None) -> VerifyReport:
        """Close the stream; with `head`, also check the trail ends where audit_chain says."""
        for seq, intact in self._dangling.values():
            self._report_unlinked(seq, intact)
        self._dangling.clear()
        last = self._next_seq - 1
        if head is not None:
            if last < head.last_seq:
                self._report(
                    Problem(
                        ProblemKind.MISSING,
                        last + 1,
                        "rows up to the chain head are gone (deleted at the end)",
                        head.last_seq,
                    )
                )
            elif last > head.last_seq:
                self._report(
                    Problem(
                        ProblemKind.HEAD_MISMATCH,
                        head.last_seq + 1,
                        f"rows beyond the chain head at seq {head.last_seq} (inserted)",
                        last,
                    )
                )
            elif head.last_hash not in self._targets:
                self._report(
                    Problem(ProblemKind.HEAD_MISMATCH, last, "the chain head holds another hash")
                )
        problems = sorted(self._problems, key=lambda p: (p.seq, p.kind.value))
        return VerifyReport(self.rows_checked, problems, self._count, last)


def verify_chain(
    rows: Iterable[AuditRow],
    *,
    anchors: Iterable[Anchor] = (),
    head: ChainHead | None = None,
) -> VerifyReport:
    """Verify anchors, then the stored rows (ascending seq), then the head."""
    start, anchor_problems = check_anchors(anchors)
    verifier = ChainVerifier(start, prior=anchor_problems)
    for row in rows:
        verifier.feed(row)
    return verifier.finish(head)
