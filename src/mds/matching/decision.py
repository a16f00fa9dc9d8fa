"""The decision policy: link, review or create, and when a link is too risky to make alone."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import takewhile
from typing import Generic, TypeVar

from mds.matching.comparisons import NULL
from mds.matching.scoring import PairScore

UserKey = TypeVar("UserKey", bound=Hashable)


class Outcome(StrEnum):
    LINK = "linked"
    REVIEW = "review"
    NEW = "created"


class Risk(StrEnum):
    NORMAL = "normal"
    HIGH = "high"


# A given name this rare (its exact agreement worth this many bits after term-frequency
# adjustment, about 1 person in 75) is unlikely to be shared by two members of one household.
RARE_GIVEN_NAME_BITS = 6.0


@dataclass(frozen=True, slots=True)
class Thresholds:
    link: float = 0.995  # probability at or above which a link is made automatically
    review: float = 0.30  # probability at or above which a doubtful pair is queued
    # How rare a given name must be for the same name at the same phone or address (nothing
    # identifying besides) to link: below it, the pair may be two namesakes of one household.
    household_name_bits: float = RARE_GIVEN_NAME_BITS

    def __post_init__(self) -> None:
        if not 0 < self.review <= self.link < 1:
            raise ValueError("thresholds need 0 < review <= link < 1")
        if self.household_name_bits < 0:
            raise ValueError("household_name_bits must not be negative")


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
    # Other users it links on the names and household alone (the best user aside): merged
    # unless their own birth dates differ, as a record silent on the birth date could bridge
    # two namesakes of one household.
    bridged: tuple[UserKey, ...] = ()


# Surnames this alike are one surname (a typo, one of two Spanish surnames dropped).
SAME_SURNAME_LEVELS = {"exact", "close", "token_overlap"}

BIRTH_DATES_DIFFER = "birth dates differ"

# Agreement on one of these is evidence about the person, beyond their name. Phone and address
# are not on the list: a household shares them.
IDENTIFYING_LEVELS = {
    "date_of_birth": {"exact", "transposed", "one_component"},
    "email": {"exact", "canonical", "close"},
    "government_id": {"exact", "one_edit"},
}


def guards(
    candidate: Candidate[UserKey], household_name_bits: float = RARE_GIVEN_NAME_BITS
) -> tuple[str, ...]:
    """Why a high score must still not link automatically (empty: nothing stops it).

    Fellegi–Sunter assumes fields are independent; members of one household are not (shared
    surname, address and phone), and twins share a birth date too. What separates them is the
    given name and the birth date, so disagreement there caps the decision at review. A name
    alone, however rare, is not enough either: some other identifying field must agree.
    """
    return (*candidate.conflicts, *score_guards(candidate.score, household_name_bits))


def score_guards(
    score: PairScore, household_name_bits: float = RARE_GIVEN_NAME_BITS
) -> tuple[str, ...]:
    """The guards that read the comparison alone (conflicts aside)."""
    reasons = []
    # Compared crosswise (one side's names swapped), one level compares the given names and the
    # other the surnames, and which is which depends on the side that was swapped: check both.
    name_levels = (
        {score.level("given_name"), score.level("family_name")}
        if score.names_swapped
        else {score.level("given_name")}
    )
    # A typo-distance given name (fuzzy) with the same email or id is a typo, not a twin; a
    # clearly different given name is a different person even with a shared (family) email.
    id_agrees = score.level("government_id") in {"exact", "one_edit"}
    personal_id_agrees = score.level("email") in {"exact", "canonical"} or id_agrees
    # Twins share a birth date, never a government id: the same id and birth date are one
    # person whatever the given name says (a typo, a changed name). So is the same id under
    # the same surname when one side has no birth date: the id types MDS takes name one person.
    # A risk taken knowingly: a parent's id copied onto a child's form that gives no birth date
    # links; with the child's birth date it differs, and goes to review.
    birth = score.level("date_of_birth")
    same_id_and_birth = id_agrees and birth == "exact"
    # Crosswise, the level that agrees is the surname, whichever side was swapped.
    surname_agrees = bool(
        (name_levels if score.names_swapped else {score.level("family_name")}) & SAME_SURNAME_LEVELS
    )
    same_id_and_surname = (
        score.level("government_id") == "exact" and birth == NULL and surname_agrees
    )
    names_differ = "different" in name_levels or ("fuzzy" in name_levels and not personal_id_agrees)
    if names_differ and not (same_id_and_birth or same_id_and_surname):
        reasons.append("given names differ")
    # A namesake in the household (father and son) has another birth date and another id; the
    # same id under the same given name makes the other birth date a data-entry error.
    if score.level("date_of_birth") == "different" and (names_differ or not id_agrees):
        reasons.append(BIRTH_DATES_DIFFER)
    if not identified(score) and not _household_and_rare_name(score, household_name_bits):
        reasons.append("only the names agree")
    return tuple(reasons)


def identified(score: PairScore) -> bool:
    """Some field beyond the names and the household agrees (see IDENTIFYING_LEVELS)."""
    return any(score.level(f) in levels for f, levels in IDENTIFYING_LEVELS.items())


def birth_dates_differ(scores: Iterable[PairScore]) -> PairScore | None:
    """The first of these scores whose birth dates differ enough to guard the pair, if any."""
    return next((s for s in scores if BIRTH_DATES_DIFFER in score_guards(s)), None)


def clearly_different(score: PairScore) -> bool:
    """Another given name and another birth date: two people, however much their household
    shares (surname, phone, address, which can score high). Not a question for a steward,
    unless they share a government id: that needs one (a parent's id on a child's form)."""
    return (
        score.level("given_name") == "different"
        and score.level("date_of_birth") == "different"
        and score.level("government_id") not in {"exact", "one_edit"}
    )


def _household_and_rare_name(score: PairScore, household_name_bits: float) -> bool:
    """Same phone or same address, and the same uncommon given name: one person, not two.

    Uncommon for sure: while few identities are counted, a name's share is a rough estimate,
    and a link made on a name that only looked rare would depend on the arrival order."""
    household = score.level("phone") == "exact" or score.level("address") == "same_address"
    given = next(c for c in score.contributions if c.field == "given_name")
    return (
        household
        and not score.names_swapped
        and given.level == "exact"
        and given.weight_at_least >= household_name_bits
    )


def linking_score(scores: Sequence[PairScore], thresholds: Thresholds) -> PairScore:
    """Which of the scores between a record and a user (one per pair of identities, and their
    combination) speaks for the pair: the strongest that links cleanly, else the strongest.

    A user holds several identities of one person; one of them matching cleanly is enough, and
    a garbled name in another (Rbt for Robert) must not block the link that one would make.
    But a pair that links on the household alone (nothing identifying agrees) gives way to a
    pair whose birth dates differ: that is how a namesake in the household would chain onto a
    user, through an identity that gave no birth date.
    """
    ranked = sorted(scores, key=lambda s: s.match_weight, reverse=True)
    linking = takewhile(lambda s: s.probability >= thresholds.link, ranked)
    clean = (s for s in linking if not score_guards(s, thresholds.household_name_bits))
    first = next(clean, None)
    if first is None:
        return ranked[0]
    if identified(first):
        return first
    differing = birth_dates_differ(ranked)
    if differing is None:
        return first
    return next((s for s in clean if identified(s)), differing)


def decide(candidates: Sequence[Candidate[UserKey]], thresholds: Thresholds) -> Decision[UserKey]:
    ranked = sorted(candidates, key=lambda c: c.score.match_weight, reverse=True)
    linkable: list[Candidate[UserKey]] = []
    proposals: list[Proposal[UserKey]] = []
    for candidate in ranked:
        probability = candidate.score.probability
        if probability < thresholds.review or clearly_different(candidate.score):
            continue
        reasons = guards(candidate, thresholds.household_name_bits)
        if probability >= thresholds.link and not reasons:
            linkable.append(candidate)
            continue
        risk = Risk.HIGH if candidate.conflicts else Risk.NORMAL
        proposals.append(
            Proposal(candidate.user, candidate.score, risk, reasons or ("score below link",))
        )
    if linkable:
        best, others = linkable[0], linkable[1:]
        return Decision(
            Outcome.LINK,
            best.user,
            best.score,
            merge=tuple(c.user for c in others if identified(c.score)),
            review=tuple(proposals),
            bridged=tuple(c.user for c in others if not identified(c.score)),
        )
    if proposals:
        return Decision(Outcome.REVIEW, None, proposals[0].score, review=tuple(proposals))
    top = ranked[0].score if ranked else None
    return Decision(Outcome.NEW, None, top)
