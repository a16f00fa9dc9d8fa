"""Why two users are (or are not) the same person: the engine's own scoring, field by field."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from mds.matching.conflicts import conflicts
from mds.matching.decision import Candidate, Outcome, decide, guards, linking_score
from mds.matching.record import MatchRecord
from mds.matching.scoring import PairScore, PairScorer, TermFrequency
from mds.matching.term_share import TermShare, term_share
from mds.security.keyring import Keyring
from mds.services.errors import InvalidFieldError
from mds.services.resolution.batch import MIN_TF_POPULATION
from mds.services.resolution.config import ResolutionConfig
from mds.services.resolution.keys import hashed_tf_keys, tf_key
from mds.store import match_keys
from mds.store import source_identities as identities

VERDICTS = {Outcome.LINK: "link", Outcome.REVIEW: "review", Outcome.NEW: "distinct"}


def _records(session: Session, keyring: Keyring, user_id: uuid.UUID) -> list[MatchRecord]:
    rows = identities.load_by_users(session, keyring, [user_id])
    return [r.record for r in rows if r.record is not None and r.erased_as_of is None]


def best_score(
    ours: list[MatchRecord],
    theirs: list[MatchRecord],
    config: ResolutionConfig,
    tf: TermFrequency,
    prior: float,
) -> PairScore:
    """The score that speaks for two users, chosen as the resolver chooses it."""
    scores = PairScorer(config.parameters, tf, prior).scores_between(ours, theirs)
    return linking_score(scores, config.thresholds)


def compare_users(
    session: Session,
    keyring: Keyring,
    config: ResolutionConfig,
    a: uuid.UUID,
    b: uuid.UUID,
) -> dict[str, Any]:
    ours, theirs = _records(session, keyring, a), _records(session, keyring, b)
    for name, records in (("user_a", ours), ("user_b", theirs)):
        if not records:
            raise InvalidFieldError(name, "the user has no source identity left to compare")
    counts = match_keys.term_counts(
        session, [k for r in ours + theirs for k in hashed_tf_keys(r, keyring)]
    )
    counted = identities.approximate_count(session)
    population = max(counted, MIN_TF_POPULATION)

    def frequency(field: str, value: str) -> TermShare | None:
        # Two users already stored: judged as `mds recompute` judges them (no RARITY_CAUTION).
        total = counts.get(tf_key(field, value, keyring), 0)
        return term_share(total, counted, MIN_TF_POPULATION, 0.0) if total else None

    prior = config.parameters.prior_weight_for(population)
    score = best_score(ours, theirs, config, frequency, prior)
    found = tuple(dict.fromkeys(c for record in ours for c in conflicts(record, theirs)))
    candidate = Candidate(b, score, found)
    thresholds = config.thresholds
    reasons = guards(candidate, thresholds.household_name_bits)
    # The engine's own decision, so the answer cannot drift from what `mds recompute` would do.
    verdict = VERDICTS[decide([candidate], thresholds).outcome]
    return {
        **score.explanation(config.parameters.version),
        "conflicts": list(found),
        "guards": list(reasons),
        "verdict": verdict,
        "thresholds": {"link": thresholds.link, "review": thresholds.review},
    }
