"""Expectation–maximisation for m, u and the prior from unlabelled comparison vectors.

The vectors come from candidate pairs produced by blocking (see `mds model train`). Null levels
carry no information and are skipped in both steps. A small pseudo-count keeps every level
possible, so a level unseen in training does not become a certainty.

u, the chance of each level between two different people, is best measured on random pairs
(almost all non-matches), as Splink does: non-matches that blocking proposes agree on the very
fields they were blocked on, so a u estimated among them makes a shared name look like no
evidence at all. Given such a u, EM estimates m and leaves u as measured.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace

from mds.matching.blocking import FIELDS_BLOCKED_BY
from mds.matching.comparisons import COMPARISONS, NULL
from mds.matching.parameters import ModelParameters, Table

Vector = dict[str, str]
PSEUDO_COUNT = 0.5


@dataclass(frozen=True)
class TrainingResult:
    parameters: ModelParameters
    iterations: int
    converged: bool
    pairs: int


def _posterior(vector: Vector, params: ModelParameters) -> float:
    log_odds = params.prior_weight
    for field, level in vector.items():
        log_odds += params.weight(field, level)
    if log_odds > 60:
        return 1.0
    if log_odds < -60:
        return 0.0
    return 1.0 / (1.0 + math.pow(2.0, -log_odds))


def _estimate(vectors: Sequence[Vector], weights: Sequence[float]) -> Table:
    table: Table = {}
    for comparison in COMPARISONS:
        counts = dict.fromkeys(comparison.levels, PSEUDO_COUNT)
        for vector, weight in zip(vectors, weights, strict=True):
            level = vector.get(comparison.field, NULL)
            if level != NULL:
                counts[level] += weight
        total = sum(counts.values())
        table[comparison.field] = {level: count / total for level, count in counts.items()}
    return table


def unblocked(vector: Vector, key_types: Iterable[str]) -> Vector:
    """The comparison vector of a pair blocking proposed, without the fields its keys forced
    to agree (as Splink leaves a blocking rule's columns out of that rule's EM session)."""
    forced = {f for kind in key_types for f in FIELDS_BLOCKED_BY.get(kind, ())}
    return {f: level for f, level in vector.items() if f not in forced}


def u_from_random_pairs(vectors: Sequence[Vector]) -> Table:
    """Each level's share among random pairs of records: u, as nearly all are non-matches."""
    if not vectors:
        raise ValueError("no random pairs to measure u on")
    return _estimate(vectors, [1.0] * len(vectors))


def train(
    vectors: Sequence[Vector],
    start: ModelParameters,
    *,
    fixed_u: Table | None = None,
    max_iterations: int = 500,
    tolerance: float = 1e-4,
) -> TrainingResult:
    """EM on candidate pairs; with `fixed_u` (from random pairs) only m and the prior move."""
    if not vectors:
        raise ValueError("no comparison vectors to train on")
    params = start if fixed_u is None else replace(start, u=fixed_u)
    for iteration in range(1, max_iterations + 1):
        posteriors = [_posterior(v, params) for v in vectors]
        prior = min(max(sum(posteriors) / len(posteriors), 1e-9), 1 - 1e-9)
        m = _estimate(vectors, posteriors)
        u = fixed_u if fixed_u is not None else _estimate(vectors, [1 - p for p in posteriors])
        updated = ModelParameters(
            version=start.version, prior=prior, match_rate=start.match_rate, m=m, u=u
        )
        change = max(abs(updated.m[f][level] - params.m[f][level]) for f in m for level in m[f])
        params = updated
        if change < tolerance:
            return TrainingResult(params, iteration, True, len(vectors))
    return TrainingResult(params, max_iterations, False, len(vectors))


def train_per_block(
    pairs: Sequence[tuple[Vector, Collection[str]]], start: ModelParameters, fixed_u: Table
) -> TrainingResult:
    """EM once per kind of blocking key, on the pairs sharing that kind, with the fields it
    forces left out; each field's m is the average over the sessions that could see it,
    weighted by their pairs (Splink's sessions). A field no session saw keeps `start`'s m."""
    if not pairs:
        raise ValueError("no comparison vectors to train on")
    totals: dict[str, dict[str, float]] = {}
    seen: dict[str, float] = {}
    iterations, converged, priors = 0, True, []
    for kind in sorted({k for _, kinds in pairs for k in kinds}):
        vectors = [unblocked(v, (kind,)) for v, kinds in pairs if kind in kinds]
        result = train(vectors, start, fixed_u=fixed_u)
        iterations += result.iterations
        converged &= result.converged
        priors.append((result.parameters.prior, len(vectors)))
        forced = FIELDS_BLOCKED_BY.get(kind, ())
        for field, levels in result.parameters.m.items():
            if field in forced:
                continue
            seen[field] = seen.get(field, 0.0) + len(vectors)
            into = totals.setdefault(field, dict.fromkeys(levels, 0.0))
            for level, probability in levels.items():
                into[level] += probability * len(vectors)
    m = {
        field: (
            {level: total / seen[field] for level, total in totals[field].items()}
            if field in totals
            else dict(levels)
        )
        for field, levels in start.m.items()
    }
    prior = sum(p * n for p, n in priors) / sum(n for _, n in priors)
    params = ModelParameters(
        version=start.version, prior=prior, match_rate=start.match_rate, m=m, u=fixed_u
    )
    return TrainingResult(params, iterations, converged, len(pairs))
