"""How well could any linker do on these signals? An upper bound from the comparison vectors.

Two records are described to a linker by what it can compare: the level of each field (exact,
close, different, null, …), whether the names are swapped, and how common the name is. Pairs
with the same description cannot be told apart by any rule on those comparisons. Knowing the
truth, an oracle links exactly the descriptions whose pairs are (almost) all true matches, then
closes the links transitively; the recall it reaches is a ceiling for precision at that purity.
The bound is optimistic: it is fitted to the data, and it sees every true pair (perfect
blocking) but only the false pairs blocking proposes, so more blocking keys lower it a little.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from bench.pairwise import closure
from mds.matching.blocking import blocking_keys
from mds.matching.parameters import DEFAULT_PARAMETERS
from mds.matching.record import MatchRecord
from mds.matching.scoring import score_pair


def _name_frequency(count: int) -> str:
    return "unique" if count <= 1 else "rare" if count <= 3 else "common"


def describe_pairs(
    records: Sequence[MatchRecord], pairs: set[tuple[int, int]]
) -> dict[tuple[int, int], Any]:
    """Each pair's description: comparison levels, swapped names, frequency of the name."""
    name_counts = Counter((r.given, r.family) for r in records)
    described = {}
    for i, j in pairs:
        score = score_pair(records[i], records[j], DEFAULT_PARAMETERS)
        levels = tuple(c.level for c in score.contributions)
        frequency = _name_frequency(name_counts[(records[i].given, records[i].family)])
        described[(i, j)] = (*levels, score.names_swapped, frequency)
    return described


def candidate_pairs(records: Sequence[MatchRecord]) -> set[tuple[int, int]]:
    by_key: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        for key in blocking_keys(record):
            by_key[key].append(i)
    return {pair for ids in by_key.values() for pair in combinations(ids, 2)}


@dataclass(frozen=True)
class Described:
    """Every pair an oracle looks at (true pairs and blocking's candidates), described."""

    person: Sequence[Hashable]
    truth: set[tuple[int, int]]
    pairs: dict[tuple[int, int], tuple[Any, ...]]


def describe(records: Sequence[MatchRecord], person: Sequence[Hashable]) -> Described:
    by_person: dict[Hashable, list[int]] = defaultdict(list)
    for i, p in enumerate(person):
        by_person[p].append(i)
    truth = {pair for ids in by_person.values() for pair in combinations(ids, 2)}
    return Described(person, truth, describe_pairs(records, truth | candidate_pairs(records)))


def linkable_descriptions(described: Described, purity: float = 0.999) -> set[tuple[Any, ...]]:
    """The descriptions whose pairs are at least `purity` true matches."""
    person = described.person
    tally: Counter[tuple[tuple[Any, ...], bool]] = Counter(
        (d, person[i] == person[j]) for (i, j), d in described.pairs.items()
    )
    return {
        d
        for d, same in tally
        if same and tally[(d, True)] / (tally[(d, True)] + tally[(d, False)]) >= purity
    }


def link_descriptions(described: Described, linkable: set[tuple[Any, ...]]) -> tuple[float, float]:
    """(precision, recall) of linking the pairs with those descriptions, closed transitively."""
    return closed_links(described, [p for p, d in described.pairs.items() if d in linkable])


def closed_links(described: Described, links: Iterable[tuple[int, int]]) -> tuple[float, float]:
    """(precision, recall) of these links once closed transitively (as users hold records)."""
    clusters: dict[int, list[int]] = defaultdict(list)
    for i, root in closure(range(len(described.person)), links).items():
        clusters[root].append(i)
    linked = {pair for ids in clusters.values() for pair in combinations(ids, 2)}
    hits = len(linked & described.truth)
    return hits / max(len(linked), 1), hits / max(len(described.truth), 1)
