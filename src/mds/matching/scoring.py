"""Fellegi–Sunter scoring of one pair, with term-frequency adjustment and an explanation."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from mds.matching.comparisons import (
    COMPARISONS,
    NAME_COMPARISONS,
    NULL,
    Comparison,
)
from mds.matching.parameters import TF_FIELDS, ModelParameters
from mds.matching.record import MatchRecord
from mds.matching.term_share import TermShare

# frequency(field, value) → how common that value is, or None if unknown.
TermFrequency = Callable[[str, str], TermShare | None]
SWAP_PENALTY_BITS = 1.0
_TF_VALUE = {"given_name": "given", "family_name": "family"}


class FieldContribution(NamedTuple):
    # A named tuple, not a frozen dataclass: seven are made for every pair scored, and a frozen
    # dataclass sets each field through object.__setattr__.
    field: str
    level: str
    weight: float
    tf_adjusted: bool = False
    # The weight at the largest share the value may still prove to have (few identities
    # counted so far); None where that is the weight itself.
    cautious_weight: float | None = None

    @property
    def weight_at_least(self) -> float:
        return self.weight if self.cautious_weight is None else self.cautious_weight


@dataclass(frozen=True, slots=True)
class PairScore:
    match_weight: float  # bits, prior included
    contributions: tuple[FieldContribution, ...]
    names_swapped: bool = False

    @property
    def probability(self) -> float:
        # 2^w / (1 + 2^w), computed without overflow for large |w|.
        return 1.0 / (1.0 + math.pow(2.0, -self.match_weight)) if self.match_weight > -1000 else 0.0

    def level(self, field: str) -> str:
        return next(c.level for c in self.contributions if c.field == field)

    def explanation(self, model_version: int) -> dict[str, Any]:
        return {
            "model_version": model_version,
            "match_weight": round(self.match_weight, 3),
            "probability": self.probability,
            "names_swapped": self.names_swapped,
            "fields": [
                {
                    "field": c.field,
                    "level": c.level,
                    "weight": round(c.weight, 3),
                    **({"tf_adjusted": True} if c.tf_adjusted else {}),
                    **(
                        {"cautious_weight": round(c.cautious_weight, 3)}
                        if c.cautious_weight is not None
                        else {}
                    ),
                }
                for c in self.contributions
            ],
        }

    def brief(self, model_version: int) -> dict[str, Any]:
        """The explanation in short, for the audit row every decision writes: each compared
        field's level and weight (fields one side lacks weigh nothing and are left out)."""
        return {
            "model_version": model_version,
            "probability": self.probability,
            **({"names_swapped": True} if self.names_swapped else {}),
            "fields": {
                c.field: [c.level, round(c.weight, 2)]
                for c in self.contributions
                if c.level != NULL
            },
        }


def _contributions(
    a: MatchRecord,
    b: MatchRecord,
    params: ModelParameters,
    tf: TermFrequency | None,
    comparisons: tuple[Comparison, ...] = COMPARISONS,
) -> tuple[FieldContribution, ...]:
    out = []
    weights = params.weights
    for comparison in comparisons:  # as compare_records, without the dict: the hottest loop
        name, level = comparison.field, comparison.compare(a, b)
        weight = 0.0 if level == NULL else weights[name][level]
        if tf is not None and level == "exact" and name in TF_FIELDS:
            value = getattr(a, _TF_VALUE[name])
            known = tf(name, value) if value else None
            if known is not None:
                # Splink-style: the exact level's u becomes the value's own frequency, bounded
                # so a value seen once cannot outweigh an email match.
                m_exact, floor = params.m[name]["exact"], params.u[name]["exact"] / 4
                weight = math.log2(m_exact / min(max(known.share, floor), 1.0))
                cautious = None
                if known.bound > known.share:
                    cautious = math.log2(m_exact / min(max(known.bound, floor), 1.0))
                out.append(FieldContribution(name, level, weight, True, cautious))
                continue
        out.append(FieldContribution(name, level, weight))
    return tuple(out)


def score_pair(
    a: MatchRecord,
    b: MatchRecord,
    params: ModelParameters,
    tf: TermFrequency | None = None,
    prior_weight: float | None = None,
) -> PairScore:
    """Match weight of a pair; `prior_weight` defaults to the model's fixed prior."""
    prior = params.prior_weight if prior_weight is None else prior_weight
    straight = _contributions(a, b, params, tf)
    total = prior + sum(c.weight for c in straight)
    best = PairScore(total, straight)
    if a.given and a.family and b.given and b.family and a.given != b.given:
        # Either side may be the swapped one, and that decides which crossed pair of names is
        # compared as given names (nicknames, known-name typos) and which as surnames: try both,
        # which also keeps the score of a pair the same whichever record arrived first.
        either = _either_role(tf) if tf is not None else None
        for x, y in ((a, _names_swapped(b)), (_names_swapped(a), b)):
            # Swapping names changes only the name fields: the others are reused.
            names = {c.field: c for c in _contributions(x, y, params, either, NAME_COMPARISONS)}
            crossed = tuple(names.get(c.field, c) for c in straight)
            crossed_total = prior + sum(c.weight for c in crossed) - SWAP_PENALTY_BITS
            if crossed_total > best.match_weight:
                best = PairScore(crossed_total, crossed, names_swapped=True)
    return best


def _either_role(tf: TermFrequency) -> TermFrequency:
    """Term frequencies for names compared crosswise, where a value may be a given name or a
    surname (which one depends on the side taken as swapped): as common as it is in its commoner
    role. García agreeing crosswise is a common surname, not a given name no one has."""

    def frequency(field: str, value: str) -> TermShare | None:
        shares = [s for s in (tf("given_name", value), tf("family_name", value)) if s is not None]
        return max(shares, key=lambda s: s.share) if shares else None

    return frequency


def _names_swapped(record: MatchRecord) -> MatchRecord:
    """Only the names, exchanged: all the name comparisons read (cheaper than `swapped`, which
    copies every field, on the hottest path of scoring)."""
    return MatchRecord(given=record.family, family=record.given)


def combine(scores: list[PairScore], prior_weight: float) -> PairScore:
    """One record against a user with several source identities: per field, the strongest
    known agreement among them (a field one identity lacks is not counted as disagreement when
    another has it). Scores of swapped-name comparisons are left out: their fields do not line up.
    """
    straight = [s for s in scores if not s.names_swapped]
    if not straight:
        return max(scores, key=lambda s: s.match_weight)
    by_field: dict[str, FieldContribution] = {}
    for score in straight:
        for c in score.contributions:
            held = by_field.get(c.field)
            if (
                held is None
                or (held.level == "null")
                or (c.level != "null" and c.weight > held.weight)
            ):
                by_field[c.field] = c
    contributions = tuple(by_field[c.field] for c in straight[0].contributions)
    return PairScore(prior_weight + sum(c.weight for c in contributions), contributions)


def score_between(
    records: list[MatchRecord],
    held: list[MatchRecord],
    params: ModelParameters,
    tf: TermFrequency | None,
    prior_weight: float,
) -> PairScore:
    """Two groups of identities (a record or a whole user each): the best pair, or every pair
    combined field by field."""
    return PairScorer(params, tf, prior_weight).between(records, held)


@dataclass
class PairScorer:
    """Scores with one batch's parameters, term frequencies and prior, and remembers each pair:
    the users a batch changed are compared again at its end, on pairs their signals scored."""

    params: ModelParameters
    tf: TermFrequency | None
    prior_weight: float
    _scored: dict[tuple[MatchRecord, MatchRecord], PairScore] = field(default_factory=dict)

    def pair(self, a: MatchRecord, b: MatchRecord) -> PairScore:
        score = self._scored.get((a, b))
        if score is None:
            score = score_pair(a, b, self.params, self.tf, self.prior_weight)
            self._scored[(a, b)] = score
        return score

    def between(self, records: list[MatchRecord], held: list[MatchRecord]) -> PairScore:
        """As `score_between`: the strongest of `scores_between`."""
        return self.scores_between(records, held)[0]

    def scores_between(
        self, records: list[MatchRecord], held: list[MatchRecord]
    ) -> list[PairScore]:
        """Every pair's score and, for several pairs, their combination; strongest first."""
        scores = [self.pair(r, h) for r in records for h in held]
        if len(scores) > 1:
            scores.append(combine(scores, self.prior_weight))
        return sorted(scores, key=lambda s: s.match_weight, reverse=True)
