import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mds.matching.parameters import DEFAULT_PARAMETERS
from mds.matching.record import MatchRecord
from mds.matching.scoring import combine, score_between, score_pair
from mds.matching.term_share import TermShare
from tests.unit.matching_helpers import ANA

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzáéñ", min_size=1, max_size=12)


@given(names, names, st.dates().map(lambda d: d.isoformat()))
def test_scoring_is_symmetric(given_name: str, family: str, dob: str) -> None:
    other = MatchRecord(given=family, family=given_name, dob=dob, email="x@y.com")
    this = MatchRecord(given=given_name, family=family, dob=dob)
    forward = score_pair(this, other, DEFAULT_PARAMETERS)
    backward = score_pair(other, this, DEFAULT_PARAMETERS)
    assert forward.match_weight == pytest.approx(backward.match_weight)


# Names that are nicknames, typos and surnames of each other, so that crosswise comparisons
# (one side's names swapped) meet every given-name rule.
mixed_names = st.sampled_from(["bill", "william", "smith", "bob", "robert", "hill", "hil", "bb"])


@given(mixed_names, mixed_names, mixed_names, mixed_names)
def test_scoring_is_symmetric_whichever_side_has_swapped_names(
    given_a: str, family_a: str, given_b: str, family_b: str
) -> None:
    a = MatchRecord(given=given_a, family=family_a, dob="1990-04-01")
    b = MatchRecord(given=given_b, family=family_b, dob="1990-04-01", phone="+34612345678")
    forward, backward = score_pair(a, b, DEFAULT_PARAMETERS), score_pair(b, a, DEFAULT_PARAMETERS)
    assert forward.match_weight == pytest.approx(backward.match_weight)


@given(names, names)
def test_identical_records_score_at_least_as_high_as_any_variant(a: str, b: str) -> None:
    base = MatchRecord(given=a, family=b, dob="1990-04-01")
    variant = MatchRecord(given=a[::-1], family=b, dob="1990-04-02")
    assert (
        score_pair(base, base, DEFAULT_PARAMETERS).match_weight
        >= score_pair(base, variant, DEFAULT_PARAMETERS).match_weight
    )


@given(st.integers(0, 6), st.sampled_from(["given", "family", "email", "dob"]))
def test_adding_agreement_never_lowers_the_score(seed: int, field: str) -> None:
    rng = random.Random(seed)
    values = {"given": "ana", "family": "garcia", "email": "a@x.com", "dob": "1990-04-01"}
    kept = {k: v for k, v in values.items() if k != field or rng.random() < 0.5}
    without = MatchRecord(**{k: v for k, v in kept.items() if k != field})
    with_field = MatchRecord(**values)
    assert (
        score_pair(with_field, with_field, DEFAULT_PARAMETERS).match_weight
        >= score_pair(with_field, without, DEFAULT_PARAMETERS).match_weight
    )


def test_term_frequency_lowers_common_names() -> None:
    a = MatchRecord(given="maria", family="garcia", dob="1990-04-01")
    plain = score_pair(a, a, DEFAULT_PARAMETERS)
    common = score_pair(a, a, DEFAULT_PARAMETERS, tf=lambda field, value: TermShare(0.05, 0.05))
    rare = score_pair(a, a, DEFAULT_PARAMETERS, tf=lambda field, value: TermShare(1e-6, 1e-6))
    assert common.match_weight < plain.match_weight < rare.match_weight
    assert all(c.tf_adjusted for c in common.contributions if c.field.endswith("_name"))


def test_explanation_lists_every_field_with_its_weight() -> None:
    explanation = score_pair(ANA, ANA, DEFAULT_PARAMETERS).explanation(model_version=3)
    assert explanation["model_version"] == 3
    assert {f["field"] for f in explanation["fields"]} == {
        "given_name", "family_name", "email", "phone", "date_of_birth", "address", "government_id"
    }  # fmt: skip
    assert sum(f["weight"] for f in explanation["fields"]) == pytest.approx(
        explanation["match_weight"] - DEFAULT_PARAMETERS.prior_weight, abs=0.01
    )


def test_combining_identities_takes_each_fields_strongest_known_agreement() -> None:
    incoming = MatchRecord(given="ana", family="garcia", dob="1990-04-01", phone="+34612345678")
    with_dob = MatchRecord(given="ana", family="garcia", dob="1990-04-01", email="a@x.com")
    with_phone = MatchRecord(given="ana", family="garcia", phone="+34612345678", email="b@y.com")
    scores = [score_pair(incoming, m, DEFAULT_PARAMETERS) for m in (with_dob, with_phone)]
    combined = combine(scores, DEFAULT_PARAMETERS.prior_weight)
    assert combined.match_weight > max(s.match_weight for s in scores)
    assert combined.level("date_of_birth") == "exact"
    assert combined.level("phone") == "exact"

    emailed = MatchRecord(given="ana", family="garcia", email="z@z.com")
    other = MatchRecord(given="ana", family="garcia", email="a@x.com")
    no_email = MatchRecord(given="ana", family="garcia")
    mixed = [score_pair(emailed, m, DEFAULT_PARAMETERS) for m in (other, no_email)]
    assert combine(mixed, DEFAULT_PARAMETERS.prior_weight).level("email") == "different"


def test_two_users_are_compared_on_every_identity_of_both() -> None:
    # The phone is on one identity of each side and the birth date on the others: no single
    # pair shows both, the comparison of the two users does.
    user_a = [
        MatchRecord(given="ana", family="garcia", phone="+34612345678"),
        MatchRecord(given="ana", family="garcia", email="a@x.com"),
    ]
    user_b = [
        MatchRecord(given="ana", family="garcia", dob="1990-04-01", phone="+34612345678"),
        MatchRecord(given="ana", family="garcia", dob="1990-04-01", email="a@x.com"),
    ]
    prior = DEFAULT_PARAMETERS.prior_weight
    between = score_between(user_a, user_b, DEFAULT_PARAMETERS, None, prior)
    pairs = [score_pair(a, b, DEFAULT_PARAMETERS, None, prior) for a in user_a for b in user_b]
    assert between.match_weight >= max(p.match_weight for p in pairs)
    assert between.level("phone") == "exact" and between.level("email") == "exact"


def test_a_name_agreeing_crosswise_is_as_common_as_in_its_commoner_role() -> None:
    # García María against María García: read with either side swapped, García is compared as
    # a given name, where no one has it. It is the commonest of surnames all the same, and
    # agreeing crosswise must not make it worth more than agreeing as the surname it is.
    shares = {
        ("given_name", "maria"): TermShare(0.14, 0.14),
        ("family_name", "garcia"): TermShare(0.05, 0.05),
    }

    def tf(field: str, value: str) -> TermShare | None:
        return shares.get((field, value))

    maria = MatchRecord(given="maria", family="garcia", dob="1996-01-11")
    swapped = MatchRecord(given="garcia", family="maria", dob="1996-01-11")
    straight = score_pair(maria, maria, DEFAULT_PARAMETERS, tf)
    crosswise = score_pair(swapped, maria, DEFAULT_PARAMETERS, tf)
    assert crosswise.names_swapped
    assert crosswise.match_weight < straight.match_weight
    weight = {c.field: c.weight for c in crosswise.contributions}
    usual = {c.field: c.weight for c in straight.contributions}
    names = ("given_name", "family_name")
    assert sum(weight[f] for f in names) == pytest.approx(sum(usual[f] for f in names), abs=0.05)
