"""Pairwise linkage measures: records as (source_system, source_record_id), clusters as a
record -> user assignment, and the pairs of records each puts together; blocking recall on the
records as the matcher sees them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from itertools import combinations
from typing import Any, TypeVar

from bench.people import Emitted
from mds.domain.normalization import normalize_attributes
from mds.matching.blocking import blocking_keys
from mds.matching.parameters import DEFAULT_PARAMETERS
from mds.matching.record import MatchRecord, match_record
from mds.matching.scoring import score_pair

T = TypeVar("T")
Record = tuple[str, str]
Pair = tuple[Record, Record]


def pairs_within(groups: dict[object, list[Record]]) -> set[tuple[Record, Record]]:
    out: set[tuple[Record, Record]] = set()
    for members in groups.values():
        for a, b in combinations(sorted(set(members)), 2):
            out.add((a, b))
    return out


def truth_pairs(signals: list[Emitted]) -> set[tuple[Record, Record]]:
    groups: dict[object, list[Record]] = defaultdict(list)
    for e in signals:
        groups[e.person].append((e.signal["source_system"], e.signal["source_record_id"]))
    return pairs_within(groups)


def linkage(result: dict[str, Any], truth: set[Pair]) -> tuple[float, float, float, float]:
    """Precision, recall and F1 of the automatic links; recall counting open review items."""
    linked = pair_set(result["assignment"])
    tp = len(linked & truth)
    precision = tp / len(linked) if linked else 1.0
    recall = tp / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    with_review = pair_set(clusters_with_reviews(result["assignment"], result["reviews"]))
    return precision, recall, f1, len(with_review & truth) / len(truth)


def closure(items: Iterable[T], pairs: Iterable[tuple[T, T]]) -> dict[T, T]:
    """Each item's representative once the pairs are closed transitively (union-find)."""
    parent: dict[T, T] = {}

    def find(x: T) -> T:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[find(a)] = find(b)
    return {x: find(x) for x in items}


def clusters_with_reviews(
    assignment: dict[Record, object], reviews: list[tuple[object, object]]
) -> dict[Record, object]:
    roots = closure(set(assignment.values()), reviews)
    return {record: roots[user] for record, user in assignment.items()}


def jaccard(a: set[Pair], b: set[Pair]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def pair_set(assignment: dict[Record, object]) -> set[tuple[Record, Record]]:
    groups: dict[object, list[Record]] = defaultdict(list)
    for record, user in assignment.items():
        groups[user].append(record)
    return pairs_within(groups)


def match_records(signals: list[Emitted]) -> list[MatchRecord]:
    return [
        match_record(
            normalize_attributes(
                e.signal["attributes"], default_region=None, today=date(2026, 11, 25)
            )
        )
        for e in signals
    ]


def blocking_recall(
    signals: list[Emitted], records: list[MatchRecord], truth: set[tuple[Record, Record]]
) -> float:
    keys: dict[Record, set[tuple[str, str]]] = defaultdict(set)
    for e, match in zip(signals, records, strict=True):
        record = (e.signal["source_system"], e.signal["source_record_id"])
        keys[record] |= set(blocking_keys(match))
    found = sum(1 for a, b in truth if keys[a] & keys[b])
    return found / len(truth) if truth else 1.0


# Levels at which a field says nothing for the pair: absent on a side, or in disagreement.
SILENT_LEVELS = {"null", "different"}
NAME_FIELDS = {"given_name", "family_name"}


def missed_kinds(
    signals: list[Emitted], records: list[MatchRecord], missed: Iterable[Pair]
) -> dict[str, int]:
    """Why pairs were not found: never compared (no blocking key in common), nothing but the
    names agree (every other field absent or different), or something else also agrees."""
    by_record = {
        (e.signal["source_system"], e.signal["source_record_id"]): match
        for e, match in zip(signals, records, strict=True)
    }
    kinds = {"never compared": 0, "only the names agree": 0, "more agrees": 0}
    for a, b in missed:
        first, second = by_record[a], by_record[b]
        if not set(blocking_keys(first)) & set(blocking_keys(second)):
            kinds["never compared"] += 1
            continue
        score = score_pair(first, second, DEFAULT_PARAMETERS)
        more = any(
            c.level not in SILENT_LEVELS for c in score.contributions if c.field not in NAME_FIELDS
        )
        kinds["more agrees" if more else "only the names agree"] += 1
    return kinds
