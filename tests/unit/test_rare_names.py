"""A name's rarity while few identities are counted, and the household exception built on it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mds.matching.decision import Candidate, Outcome, Thresholds, decide, score_guards
from mds.matching.parameters import DEFAULT_PARAMETERS
from mds.matching.scoring import PairScore, score_pair
from mds.matching.term_share import TermShare, term_share, wilson_upper
from tests.unit.matching_helpers import record


@given(st.integers(0, 5_000), st.integers(1, 5_000), st.floats(0.5, 4.0))
def test_the_bound_is_a_share_at_least_the_observed_one(count: int, more: int, z: float) -> None:
    trials = count + more
    bound = wilson_upper(count, trials, z)
    assert count / trials <= bound <= 1.0


def test_the_bound_closes_on_the_share_as_more_identities_are_counted() -> None:
    bounds = [wilson_upper(n // 100, n, 2.0) for n in (300, 3_000, 30_000, 300_000)]
    assert bounds == sorted(bounds, reverse=True)
    assert bounds[0] > 0.02 and abs(bounds[-1] - 0.01) < 0.0005
    assert wilson_upper(3, 300, 0.0) == 0.01


def test_a_young_store_takes_shares_of_the_floor_and_bounds_of_what_it_counted() -> None:
    assert term_share(4, 400, 1_000, 2.0).share == 0.004
    assert term_share(4, 400, 1_000, 2.0).bound > 4 / 400
    assert term_share(4, 400, 1_000, 0.0) == TermShare(0.004, 0.004)
    assert term_share(50, 5_000, 1_000, 2.0).share == 0.01


def _household_pair(given_name_share: TermShare) -> PairScore:
    # Same name and phone, nothing that identifies a person beyond them: one person only if
    # the given name is rare enough that a household would not hold it twice.
    a = record(given_name="Lorenza", family_name="Gil", phone="+34 612 345 678")
    b = record(given_name="Lorenza", family_name="Gil", phone="612345678")
    shares = {"given_name": given_name_share, "family_name": TermShare(0.02, 0.02)}
    score = score_pair(a, b, DEFAULT_PARAMETERS, tf=lambda field, value: shares[field])
    assert score.level("phone") == "exact"
    return score


def _guards_for(given_name_share: TermShare) -> tuple[str, ...]:
    return score_guards(_household_pair(given_name_share))


def test_a_rare_given_name_in_one_household_is_one_person() -> None:
    assert _guards_for(TermShare(0.004, 0.004)) == ()


def test_a_name_that_only_looks_rare_so_far_is_not_enough() -> None:
    # Four holders among the first 400 identities: 0.4% of the floor, but up to 2.5% for all
    # the counts can tell, as common as a name two household members might both carry.
    early = term_share(4, 400, 1_000, 2.0)
    assert _guards_for(early) == ("only the names agree",)
    # The same share, once thousands of identities were counted, is rare for sure.
    assert _guards_for(term_share(40, 10_000, 1_000, 2.0)) == ()


def test_how_rare_a_household_name_must_be_is_a_threshold() -> None:
    # A share of 1 in 40 is worth about 5.3 bits: below the default bound, above a lower one.
    score = _household_pair(TermShare(0.025, 0.025))
    assert 5 < next(c for c in score.contributions if c.field == "given_name").weight_at_least < 6
    default = decide([Candidate("u", score)], Thresholds())
    assert default.outcome is Outcome.REVIEW
    assert default.review[0].reasons == ("only the names agree",)
    relaxed = decide([Candidate("u", score)], Thresholds(household_name_bits=5.0))
    assert relaxed.outcome is Outcome.LINK and relaxed.user == "u"
