"""The decision policy: link, review or create, and when a link is too risky to make alone."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

from mds.matching.scoring import PairScore

UserKey = TypeVar("UserKey", bound=Hashable)


class Outcome(StrEnum):
    LINK = "linked"
    REVIEW = "review"
    NEW = "created"


class Risk(StrEnum):
    NORMAL = "normal"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class Thresholds:
    link: float = 0.995  # probability at or above which a link is made automatically
    review: float = 0.30  # probability at or above which a doubtful pair is queued

    def __post_init__(self) -> None:
        if not 0 < self.review <= self.link < 1:
            raise ValueError("thresholds need 0 < review <= link < 1")


@dataclass(frozen=True, slots=True)
class Candidate(Generic[UserKey]):
    user: UserKey
    score: PairScore
    conflicts: tuple[str, ...] = ()  # high-risk disagreements, e.g. two valid, different ids


@dataclass(frozen=True, slots=True)
class Proposal(Generic[UserKey]):
    user: UserKey
    score: PairScore
    risk: Risk
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Decision(Generic[UserKey]):
    outcome: Outcome
    user: UserKey | None  # the user linked to (LINK), else None: a new user is created
    score: PairScore | None
    merge: tuple[UserKey, ...] = ()  # other users the signal proves to be the same person
    review: tuple[Proposal[UserKey], ...] = field(default=())


def guards(candidate: Candidate[UserKey]) -> tuple[str, ...]:
    """Why a high score must still not link automatically (empty: nothing stops it).

    Fellegi–Sunter assumes fields are independent; members of one household are not (shared
    surname, address and phone). Twins share a birth date too. What separates them is the given
    name and the birth date, so disagreement there caps the decision at review.
    """
    reasons = list(candidate.conflicts)
    score = candidate.score
    if score.level("given_name") == "different" and not score.names_swapped:
        reasons.append("given names differ")
    if score.level("date_of_birth") == "different":
        reasons.append("birth dates differ")
    return tuple(reasons)


def decide(candidates: Sequence[Candidate[UserKey]], thresholds: Thresholds) -> Decision[UserKey]:
    ranked = sorted(candidates, key=lambda c: c.score.match_weight, reverse=True)
    linkable: list[Candidate[UserKey]] = []
    proposals: list[Proposal[UserKey]] = []
    for candidate in ranked:
        probability = candidate.score.probability
        if probability < thresholds.review:
            continue
        reasons = guards(candidate)
        if probability >= thresholds.link and not reasons:
            linkable.append(candidate)
            continue
        risk = Risk.HIGH if candidate.conflicts else Risk.NORMAL
        proposals.append(
            Proposal(candidate.user, candidate.score, risk, reasons or ("score below link",))
        )
    if linkable:
        best = linkable[0]
        return Decision(
            Outcome.LINK,
            best.user,
            best.score,
            merge=tuple(c.user for c in linkable[1:]),
            review=tuple(proposals),
        )
    if proposals:
        return Decision(Outcome.REVIEW, None, proposals[0].score, review=tuple(proposals))
    top = ranked[0].score if ranked else None
    return Decision(Outcome.NEW, None, top)
