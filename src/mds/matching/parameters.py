"""Fellegi–Sunter parameters: m and u probabilities per comparison level, and the prior.

m = P(level | same person), u = P(level | different people); a level's match weight is
log2(m/u) bits. Defaults are hand-set from what each level means; `mds model train` re-estimates
them by EM and stores a new version in `match_models`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mds.matching.comparisons import COMPARISONS, NULL

Table = dict[str, dict[str, float]]

DEFAULT_M: Table = {
    "given_name": {
        "exact": 0.86, "nickname": 0.04, "close": 0.05, "phonetic": 0.02, "fuzzy": 0.01,
        "different": 0.02,
    },
    "family_name": {
        "exact": 0.85, "token_overlap": 0.05, "close": 0.05, "phonetic": 0.02, "fuzzy": 0.01,
        "different": 0.02,
    },
    "email": {"exact": 0.80, "canonical": 0.03, "close": 0.04, "different": 0.13},
    "phone": {"exact": 0.80, "close": 0.03, "different": 0.17},
    "date_of_birth": {"exact": 0.93, "transposed": 0.02, "one_component": 0.03, "different": 0.02},
    "address": {
        "same_address": 0.55, "same_street": 0.05, "same_postcode": 0.15, "same_locality": 0.10,
        "different": 0.15,
    },
    "government_id": {"exact": 0.95, "one_edit": 0.03, "different": 0.02},
}  # fmt: skip
DEFAULT_U: Table = {
    "given_name": {
        "exact": 0.01, "nickname": 0.001, "close": 0.003, "phonetic": 0.005, "fuzzy": 0.02,
        "different": 0.961,
    },
    "family_name": {
        "exact": 0.005, "token_overlap": 0.002, "close": 0.002, "phonetic": 0.004, "fuzzy": 0.01,
        "different": 0.977,
    },
    "email": {"exact": 1e-6, "canonical": 1e-6, "close": 1e-5, "different": 0.999988},
    "phone": {"exact": 1e-6, "close": 1e-5, "different": 0.999989},
    "date_of_birth": {
        "exact": 4e-5, "transposed": 1e-5, "one_component": 2e-3, "different": 0.99795,
    },
    "address": {
        "same_address": 1e-4, "same_street": 2e-4, "same_postcode": 2e-3, "same_locality": 0.05,
        "different": 0.9477,
    },
    "government_id": {"exact": 1e-8, "one_edit": 1e-7, "different": 0.9999999},
}  # fmt: skip
DEFAULT_PRIOR = 1e-5
# Probability that an incoming record belongs to someone already in the store; spread over the
# store's records it gives the prior of one candidate pair (see `prior_weight_for`).
DEFAULT_MATCH_RATE = 0.5
# Fields whose exact agreement is worth less for common values (term-frequency adjustment).
TF_FIELDS = ("given_name", "family_name")


@dataclass(frozen=True)
class ModelParameters:
    version: int = 0
    prior: float = DEFAULT_PRIOR
    match_rate: float = DEFAULT_MATCH_RATE
    m: Table = field(default_factory=lambda: {f: dict(v) for f, v in DEFAULT_M.items()})
    u: Table = field(default_factory=lambda: {f: dict(v) for f, v in DEFAULT_U.items()})
    weights: Table = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for comparison in COMPARISONS:
            missing = set(comparison.levels) - set(self.m.get(comparison.field, {}))
            missing |= set(comparison.levels) - set(self.u.get(comparison.field, {}))
            if missing:
                raise ValueError(f"parameters for {comparison.field} lack levels {missing}")
        weights = {
            f: {level: math.log2(self.m[f][level] / self.u[f][level]) for level in self.m[f]}
            for f in self.m
        }
        object.__setattr__(self, "weights", weights)

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1 - self.prior))

    def prior_weight_for(self, population: int) -> float:
        """Prior log-odds that a candidate pair matches, in a store of `population` records.

        A record is expected to match `match_rate` records among all those in the store, so the
        larger the store, the more evidence a link needs: two "María García" born on the same
        day are one person in a store of a thousand and maybe not in one of a million.
        """
        pair_prior = min(self.match_rate / max(population, 1), 0.5)
        return math.log2(pair_prior / (1 - pair_prior))

    def weight(self, field_name: str, level: str) -> float:
        return 0.0 if level == NULL else self.weights[field_name][level]

    def to_json(self) -> dict[str, Any]:
        return {"prior": self.prior, "match_rate": self.match_rate, "m": self.m, "u": self.u}

    @classmethod
    def from_json(cls, version: int, data: dict[str, Any]) -> ModelParameters:
        return cls(
            version=version,
            prior=float(data["prior"]),
            match_rate=float(data.get("match_rate", DEFAULT_MATCH_RATE)),
            m=data["m"],
            u=data["u"],
        )


DEFAULT_PARAMETERS = ModelParameters()
