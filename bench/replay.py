"""The decision policy replayed on comparison vectors, without a database: a quick way to see
what a change of threshold or guard would do before running `bench/quality.py`.

Every pair an oracle would look at (true pairs and blocking's candidates) is scored as the
engine scores it (default parameters, name term frequencies of the whole file, the prior of a
store holding every record), linked when its probability reaches the link threshold and no
guard or conflict holds it, and the links are closed transitively. It reproduces the engine's
runs within about 0.001 of F1 (the engine also scores records against whole users). It then
lists the comparison classes whose true pairs it holds back, with why, and how pure each class
is (true/false pairs). Run: `.venv/bin/python bench/replay.py [--dataset D] [--persons N]
[--profile P] [--link T] [--review R] [--household-name-bits B] [--top K]`.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import febrl
from bench.ceiling import Described, closed_links, describe
from bench.febrl import FILES as FEBRL_FILES
from bench.pairwise import match_records
from bench.people import PROFILES, generate
from mds.matching.conflicts import conflicts
from mds.matching.decision import Thresholds, clearly_different, score_guards
from mds.matching.parameters import DEFAULT_PARAMETERS
from mds.matching.record import MatchRecord
from mds.matching.scoring import score_pair
from mds.matching.term_share import TermShare

FIELDS = ("given", "family", "email", "phone", "dob", "address", "id")


def _why_held(
    records: list[MatchRecord], described: Described, policy: Thresholds
) -> tuple[dict[tuple[int, int], str], set[tuple[int, int]]]:
    """Each pair's fate under the policy ("link", a guard's reason, or "below"), and the pairs
    it would queue for review."""
    n = len(records)
    given = Counter(r.given for r in records if r.given)
    family = Counter(r.family for r in records if r.family)

    def frequency(field: str, value: str) -> TermShare | None:
        # The whole file's counts: the settled shares `mds recompute` decides on.
        count = (given if field == "given_name" else family).get(value)
        return TermShare(count / n, count / n) if count else None

    prior = DEFAULT_PARAMETERS.prior_weight_for(n)
    fate, queued = {}, set()
    for i, j in described.pairs:
        score = score_pair(records[i], records[j], DEFAULT_PARAMETERS, frequency, prior)
        held = (
            *conflicts(records[i], [records[j]]),
            *score_guards(score, policy.household_name_bits),
        )
        if held:
            fate[(i, j)] = held[0]
        else:
            fate[(i, j)] = "link" if score.probability >= policy.link else "below"
        doubtful = score.probability >= policy.review and not clearly_different(score)
        if fate[(i, j)] != "link" and doubtful:
            queued.add((i, j))
    return fate, queued


def _show(description: tuple[Any, ...]) -> str:
    *levels, swapped, name_frequency = description
    shown = [f"{f}={level}" for f, level in zip(FIELDS, levels, strict=True) if level != "null"]
    return " ".join(shown + (["swapped"] if swapped else []) + [f"name {name_frequency}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", choices=("generated", *FEBRL_FILES), default="generated")
    parser.add_argument("--persons", type=int, default=3_000)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="complete")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--link", type=float, default=Thresholds().link)
    parser.add_argument("--review", type=float, default=Thresholds().review)
    parser.add_argument(
        "--household-name-bits",
        type=float,
        default=Thresholds().household_name_bits,
        help="how rare a given name must be for a shared phone or address to identify"
        " (MDS_HOUSEHOLD_NAME_BITS)",
    )
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()

    if args.dataset == "generated":
        signals = generate(args.persons, seed=args.seed, profile=args.profile).signals
    else:
        signals = febrl.load(args.dataset)
    records = match_records(signals)
    described = describe(records, [e.person for e in signals])
    fate, queued = _why_held(
        records, described, Thresholds(args.link, args.review, args.household_name_bits)
    )
    precision, recall = closed_links(described, [p for p, why in fate.items() if why == "link"])
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print(
        f"{len(signals):,} signals, {len(described.truth):,} true pairs; link {args.link},"
        f" household name {args.household_name_bits:g} bits:"
        f" precision {precision:.4f}, recall {recall:.4f}, F1 {f1:.4f}"
    )
    links = [p for p, why in fate.items() if why == "link"]
    _, review_recall = closed_links(described, links + sorted(queued))
    person = described.person
    strangers = sum(1 for i, j in queued if person[i] != person[j])
    print(
        f"review threshold {args.review}: {len(queued):,} pairs queued ({strangers:,} of"
        f" different people), recall counting them {review_recall:.4f}"
    )
    purity: Counter[tuple[tuple[Any, ...], bool]] = Counter(
        (d, person[i] == person[j]) for (i, j), d in described.pairs.items()
    )
    held = Counter(
        (described.pairs[pair], why)
        for pair, why in fate.items()
        if why != "link" and pair in described.truth
    )
    print(f"true pairs held back, by class (true/false pairs in the class): top {args.top}")
    for (description, why), count in held.most_common(args.top):
        same, other = purity[(description, True)], purity[(description, False)]
        print(f"  {count:5d}  {same}/{other}  {why:24s} {_show(description)}")


if __name__ == "__main__":
    main()
