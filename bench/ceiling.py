"""How well could any linker do on these signals? An upper bound from the comparison vectors.

Two records are described to a linker by what it can compare: the level of each field (exact,
close, different, null, …), whether the names are swapped, and how common the name is. Pairs
with the same description cannot be told apart by any rule on those comparisons. Knowing the
truth, an oracle links exactly the descriptions whose pairs are (almost) all true matches, then
closes the links transitively; the recall it reaches is a ceiling for precision at that purity.
The bound is optimistic: it is fitted to the data, and it sees every true pair (perfect
blocking) but only the false pairs blocking proposes, so more blocking keys lower it a little.

Run on its own, it also tells how much of that bound is the fit: the classes are learned from
other generated people (`--train-seeds` populations) and applied to people they have not seen.

Run: `.venv/bin/python bench/ceiling.py [--persons N] [--profile P] [--train-seeds K]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pairwise import closure, match_records
from bench.people import PROFILES, generate
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


Tally = Counter[tuple[tuple[Any, ...], bool]]


def tally_descriptions(described: Described) -> Tally:
    """How many pairs of each description are true matches (True) and not (False)."""
    person = described.person
    return Counter((d, person[i] == person[j]) for (i, j), d in described.pairs.items())


def linkable_descriptions(described: Described, purity: float = 0.999) -> set[tuple[Any, ...]]:
    """The descriptions whose pairs are at least `purity` true matches."""
    return linkable_in(tally_descriptions(described), purity)


def linkable_in(tally: Tally, purity: float = 0.999, support: int = 1) -> set[tuple[Any, ...]]:
    """The descriptions with at least `support` true pairs that are `purity` true matches."""
    return {
        d
        for d, same in tally
        if same
        and tally[(d, True)] >= support
        and tally[(d, True)] / (tally[(d, True)] + tally[(d, False)]) >= purity
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


def described_people(persons: int, seed: int, profile: str) -> Described:
    signals = generate(persons, seed=seed, profile=profile).signals
    return describe(match_records(signals), [e.person for e in signals])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=10_000)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="complete")
    parser.add_argument("--seed", type=int, default=42, help="the people the classes are tried on")
    parser.add_argument("--train-seeds", type=int, default=4, help="populations to learn from")
    parser.add_argument("--purity", type=float, default=0.999)
    args = parser.parse_args()

    started = time.perf_counter()
    held_out = described_people(args.persons, args.seed, args.profile)
    precision, recall = link_descriptions(held_out, linkable_descriptions(held_out, args.purity))
    print(
        f"{args.persons:,} people ({args.profile} profile, seed {args.seed}),"
        f" {len(held_out.truth):,} true pairs, {len(held_out.pairs):,} pairs described"
    )
    print(f"fitted to these people: precision {precision:.4f} recall {recall:.4f}")
    tally: Tally = Counter()
    seeds = [args.seed + 1000 * k for k in range(1, args.train_seeds + 1)]
    for seed in seeds:
        tally.update(tally_descriptions(described_people(args.persons, seed, args.profile)))
    classes = {d for d, _ in tally}
    print(
        f"learned from {len(seeds)} other populations (seeds {seeds[0]}..{seeds[-1]}):"
        f" {len(classes):,} descriptions"
    )
    # A description seen only a few times looks pure by chance; requiring more true pairs
    # trades recall for precision on people the classes have not seen.
    for support in (1, 3, 10, 30):
        linkable = linkable_in(tally, args.purity, support)
        precision, recall = link_descriptions(held_out, linkable)
        f1 = 2 * precision * recall / max(precision + recall, 1e-9)
        print(
            f"  purity >= {args.purity}, >= {support:>2} true pairs: {len(linkable):,} classes,"
            f" precision {precision:.4f} recall {recall:.4f} F1 {f1:.4f}"
        )
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
