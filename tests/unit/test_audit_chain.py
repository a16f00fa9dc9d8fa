"""The pure chain verifier: every kind of tampering is named by seq; intact chains pass."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mds.config import SettingsError, load_settings
from mds.domain.audit import (
    GENESIS_HASH,
    REORDER_WINDOW,
    RETENTION_FLOOR_YEARS,
    Anchor,
    AuditEntry,
    AuditRow,
    ChainHead,
    ProblemKind,
    as_stored,
    row_hash,
    verify_chain,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def chain(n: int) -> list[AuditRow]:
    rows, previous = [], GENESIS_HASH
    for seq in range(1, n + 1):
        at = T0 + timedelta(seconds=seq)
        entry = AuditEntry("steward", "user.updated", "user", f"u{seq % 3}", {"n": seq})
        digest = row_hash(previous, seq, at, entry)
        rows.append(AuditRow(seq, at, entry, previous, digest))
        previous = digest
    return rows


def head_of(rows: list[AuditRow]) -> ChainHead:
    return ChainHead(rows[-1].seq, rows[-1].row_hash) if rows else ChainHead(0, GENESIS_HASH)


def kinds_at(
    rows: list[AuditRow], head: ChainHead, anchors: list[Anchor] | None = None
) -> dict[int, ProblemKind]:
    report = verify_chain(rows, anchors=anchors or [], head=head)
    return {p.seq: p.kind for p in report.problems}


def swap_content(rows: list[AuditRow], i: int, j: int) -> list[AuditRow]:
    """What `UPDATE audit_log SET seq = …` swapping two rows leaves behind."""
    out = list(rows)
    out[i] = dataclasses.replace(rows[j], seq=rows[i].seq)
    out[j] = dataclasses.replace(rows[i], seq=rows[j].seq)
    return out


def test_intact_chain_and_empty_trail_verify() -> None:
    rows = chain(50)
    report = verify_chain(rows, head=head_of(rows))
    assert report.intact and report.rows_checked == 50 and report.last_seq == 50
    assert verify_chain([], head=head_of([])).intact


def test_edited_row_is_named() -> None:
    rows = chain(10)
    rows[4] = dataclasses.replace(rows[4], entry=dataclasses.replace(rows[4].entry, actor="x"))
    assert kinds_at(rows, head_of(chain(10))) == {5: ProblemKind.EDITED}


def test_edited_time_is_named() -> None:
    rows = chain(10)
    rows[2] = dataclasses.replace(rows[2], occurred_at=rows[2].occurred_at + timedelta(days=40))
    assert kinds_at(rows, head_of(rows)) == {3: ProblemKind.EDITED}


def test_deleted_rows_are_named_as_missing() -> None:
    rows = chain(10)
    report = verify_chain(rows[:3] + rows[5:], head=head_of(rows))
    assert [(p.kind, p.seq, p.last_seq) for p in report.problems] == [(ProblemKind.MISSING, 4, 5)]
    assert "seqs 4-5" in report.problems[0].describe()


def test_rows_deleted_at_the_end_are_missing_against_the_head() -> None:
    rows = chain(10)
    report = verify_chain(rows[:7], head=head_of(rows))
    assert [(p.kind, p.seq, p.last_seq) for p in report.problems] == [(ProblemKind.MISSING, 8, 10)]


def test_reordered_rows_are_named() -> None:
    rows = chain(10)
    kinds = kinds_at(swap_content(rows, 4, 5), head_of(rows))
    assert kinds[5] == kinds[6] == ProblemKind.REORDERED
    assert set(kinds) <= {5, 6, 7}


def test_inserted_row_with_a_used_seq_is_a_duplicate() -> None:
    rows = chain(10)
    forged = dataclasses.replace(rows[3], occurred_at=rows[3].occurred_at + timedelta(1))
    kinds = kinds_at([*rows[:4], forged, *rows[4:]], head_of(rows))
    assert kinds == {4: ProblemKind.DUPLICATE}


def test_rows_beyond_the_head_are_a_head_mismatch() -> None:
    rows = chain(10)
    assert kinds_at(rows, head_of(rows[:8])) == {9: ProblemKind.HEAD_MISMATCH}
    assert kinds_at(rows, ChainHead(10, b"\x01" * 32)) == {10: ProblemKind.HEAD_MISMATCH}


def test_a_rewritten_row_with_a_fresh_hash_breaks_the_next_link() -> None:
    rows = chain(10)
    entry = dataclasses.replace(rows[4].entry, details={"n": 999})
    rows[4] = dataclasses.replace(
        rows[4], entry=entry, row_hash=row_hash(rows[4].prev_hash, 5, rows[4].occurred_at, entry)
    )
    assert kinds_at(rows, head_of(rows)) == {6: ProblemKind.BROKEN_LINK}


def test_a_broken_link_far_back_is_reported_once() -> None:
    rows = chain(REORDER_WINDOW + 20)
    entry = dataclasses.replace(rows[1].entry, actor="forger")
    rows[1] = dataclasses.replace(
        rows[1], entry=entry, row_hash=row_hash(rows[1].prev_hash, 2, rows[1].occurred_at, entry)
    )
    report = verify_chain(rows, head=head_of(rows))
    assert [(p.kind, p.seq) for p in report.problems] == [(ProblemKind.BROKEN_LINK, 3)]


def test_rows_sharing_a_forged_prev_hash_are_each_reported() -> None:
    rows = chain(10)
    for i in (3, 6):
        rows[i] = dataclasses.replace(rows[i], prev_hash=b"\x07" * 32)
    assert kinds_at(rows, head_of(rows)) == {4: ProblemKind.EDITED, 7: ProblemKind.EDITED}


def test_chain_continues_from_the_anchor_of_a_dropped_partition() -> None:
    rows = chain(10)
    anchor = Anchor("audit_log_p201801", 4, 1, GENESIS_HASH, 4, rows[3].row_hash)
    empty = Anchor("audit_log_p201802", 0)
    assert verify_chain(rows[4:], anchors=[anchor, empty], head=head_of(rows)).intact
    # Without the anchor, the dropped rows count as deleted.
    missing = verify_chain(rows[4:], head=head_of(rows)).problems
    assert [(p.kind, p.seq, p.last_seq) for p in missing] == [(ProblemKind.MISSING, 1, 4)]


def test_anchors_that_do_not_chain_are_reported() -> None:
    rows = chain(10)
    first = Anchor("audit_log_p201801", 3, 1, GENESIS_HASH, 3, rows[2].row_hash)
    forged = Anchor("audit_log_p201802", 2, 4, b"\x02" * 32, 5, rows[4].row_hash)
    kinds = kinds_at(rows[5:], head_of(rows), anchors=[first, forged])
    assert kinds == {4: ProblemKind.ANCHOR}
    short = Anchor("audit_log_p201801", 3, 1, GENESIS_HASH, 5, rows[4].row_hash)
    assert kinds_at(rows[5:], head_of(rows), anchors=[short]) == {1: ProblemKind.MISSING}
    # Rows an anchor says were dropped must not still be stored.
    assert kinds_at(rows[2:], head_of(rows), anchors=[first]) == {3: ProblemKind.ANCHOR}


def test_as_stored_matches_what_jsonb_gives_back() -> None:
    entry = AuditEntry(
        "a", "b", "c", "d", {"big": 1e20, "neg": -0.0, "tiny": 1.5e-7, 1: (1, 2), "ok": 0.25}
    )
    assert as_stored(entry).details == {
        "big": 10**20,
        "neg": 0.0,
        "tiny": 1.5e-7,
        "1": [1, 2],
        "ok": 0.25,
    }
    with pytest.raises(ValueError, match="jsonb"):
        as_stored(AuditEntry("a", "b", "c", "d", {"x": float("nan")}))


MUTATIONS = st.sampled_from(["edit", "delete", "swap", "duplicate", "rehash", "truncate"])


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 40), at=st.integers(0, 39), mutation=MUTATIONS)
def test_any_single_tampering_is_detected_near_its_seq(n: int, at: int, mutation: str) -> None:
    rows = chain(n)
    head = head_of(rows)
    i = at % (n - 1)  # a row with a successor
    tampered = list(rows)
    if mutation == "edit":
        tampered[i] = dataclasses.replace(rows[i], entry=AuditEntry("x", "y", "z", "w"))
    elif mutation == "delete":
        del tampered[i]
    elif mutation == "swap":
        tampered = swap_content(rows, i, i + 1)
    elif mutation == "duplicate":
        tampered.insert(i + 1, dataclasses.replace(rows[i], entry=AuditEntry("x", "y", "z", "w")))
    elif mutation == "rehash":
        entry = AuditEntry("x", "y", "z", "w")
        digest = row_hash(rows[i].prev_hash, rows[i].seq, rows[i].occurred_at, entry)
        tampered[i] = dataclasses.replace(rows[i], entry=entry, row_hash=digest)
    else:
        tampered = rows[: i + 1]
    report = verify_chain(tampered, head=head)
    assert not report.intact
    seq = rows[i].seq
    # Some problem's seq range overlaps the tampered row or the one after it.
    assert any(p.seq <= seq + 1 and seq <= (p.last_seq or p.seq) for p in report.problems)
    assert verify_chain(rows, head=head).intact


def test_a_retention_below_the_floor_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MDS_AUDIT_RETENTION_YEARS", raising=False)
    assert load_settings(audit_retention_years=10).audit_retention_years == 10
    assert load_settings().audit_retention_years == RETENTION_FLOOR_YEARS
    with pytest.raises(SettingsError, match="MDS_AUDIT_RETENTION_YEARS: 6 years is below"):
        load_settings(audit_retention_years=6)
