"""Fellegi–Sunter scoring of one pair, with term-frequency adjustment and an explanation."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mds.matching.comparisons import compare_records, swapped
from mds.matching.parameters import TF_FIELDS, ModelParameters
from mds.matching.record import MatchRecord

# frequency(field, value) → share of identities holding that value, or None if unknown.
TermFrequency = Callable[[str, str], float | None]
SWAP_PENALTY_BITS = 1.0
_TF_VALUE = {"given_name": "given", "family_name": "family"}


@dataclass(frozen=True, slots=True)
class FieldContribution:
    field: str
    level: str
    weight: float
    tf_adjusted: bool = False


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
                }
                for c in self.contributions
            ],
        }


def _contributions(
    a: MatchRecord, b: MatchRecord, params: ModelParameters, tf: TermFrequency | None
) -> tuple[FieldContribution, ...]:
    out = []
    for field, level in compare_records(a, b).items():
        weight = params.weight(field, level)
        adjusted = False
        if tf is not None and level == "exact" and field in TF_FIELDS:
            value = getattr(a, _TF_VALUE[field])
            frequency = tf(field, value) if value else None
            if frequency is not None:
                # Splink-style: the exact level's u becomes the value's own frequency, bounded
                # so a value seen once cannot outweigh an email match.
                u_exact = params.u[field]["exact"]
                bounded = min(max(frequency, u_exact / 4), 1.0)
                weight = math.log2(params.m[field]["exact"] / bounded)
                adjusted = True
        out.append(FieldContribution(field, level, weight, adjusted))
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
    if a.given and a.family and b.given and b.family and a.given != b.given:
        crossed = _contributions(a, swapped(b), params, tf)
        crossed_total = prior + sum(c.weight for c in crossed) - SWAP_PENALTY_BITS
        if crossed_total > total:
            return PairScore(crossed_total, crossed, names_swapped=True)
    return PairScore(total, straight)


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


def score_against_user(
    record: MatchRecord,
    held: list[MatchRecord],
    params: ModelParameters,
    tf: TermFrequency | None,
    prior_weight: float,
) -> PairScore:
    """A record against every identity of one user: the best pair, or all of them combined."""
    return score_between([record], held, params, tf, prior_weight)


def score_between(
    records: list[MatchRecord],
    held: list[MatchRecord],
    params: ModelParameters,
    tf: TermFrequency | None,
    prior_weight: float,
) -> PairScore:
    """Two groups of identities (a record or a whole user each): the best pair, or every pair
    combined field by field."""
    scores = [score_pair(r, other, params, tf, prior_weight) for r in records for other in held]
    best = max(scores, key=lambda s: s.match_weight)
    if len(scores) > 1:
        combined = combine(scores, prior_weight)
        if combined.match_weight > best.match_weight:
            best = combined
    return best
