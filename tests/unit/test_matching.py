import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mds.matching.blocking import FIELDS_BLOCKED_BY, blocking_keys
from mds.matching.candidates import best_candidates
from mds.matching.comparisons import COMPARISONS, compare_records
from mds.matching.conflicts import conflicts
from mds.matching.decision import (
    Candidate,
    Outcome,
    Risk,
    Thresholds,
    decide,
    guards,
    linking_score,
    score_guards,
)
from mds.matching.em import train, train_per_block, u_from_random_pairs, unblocked
from mds.matching.parameters import DEFAULT_PARAMETERS, ModelParameters
from mds.matching.record import MatchRecord
from mds.matching.scoring import PairScorer, combine, score_between, score_pair
from mds.matching.term_share import TermShare
from mds.services.training import random_pairs
from tests.unit.matching_helpers import record

ANA_ATTRIBUTES = {
    "given_name": "Ana",
    "family_name": "García López",
    "email": "ana.garcia@example.com",
    "phone": "+34 612 345 678",
    "date_of_birth": "1990-04-01",
    "address": {"line1": "Calle Mayor 5", "postal_code": "28013", "locality": "Madrid"},
    "government_id": {"type": "national_id", "country": "ES", "value": "12345678Z"},
}
ANA = record(**ANA_ATTRIBUTES)

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


def test_comparison_levels_for_typical_errors() -> None:
    other = record(
        given_name="Anna",
        family_name="Garcia",
        email="anagarcia@example.com",
        phone="612345679",
        date_of_birth="1990-01-04",
        address={"line1": "C/ Mayor 5", "postal_code": "28 013"},
        government_id={"type": "dni", "country": "ES", "value": "12345687Z"},
    )
    assert compare_records(ANA, other) == {
        "given_name": "nickname",  # Ana ~ Anna is in the nickname list
        "family_name": "token_overlap",
        "email": "close",
        "phone": "close",
        "date_of_birth": "transposed",
        "address": "same_address",
        "government_id": "one_edit",
    }


def _address_level(a: dict[str, str], b: dict[str, str]) -> str:
    return compare_records(record(address=a), record(address=b))["address"]


def test_one_building_under_a_mistyped_postcode_is_the_same_address() -> None:
    home = {"line1": "Tunney Crescent 9", "postal_code": "5013", "locality": "Toorak"}
    transposed = {**home, "postal_code": "5031"}
    assert _address_level(home, transposed) == "same_address"
    # The town's name mistyped as well: the street, the number and a code a typo away remain.
    assert _address_level(home, {**transposed, "locality": "Toroak"}) == "same_address"


def test_neighbouring_postcodes_of_one_city_are_only_the_same_town() -> None:
    home = {"line1": "Calle Mayor 5", "postal_code": "28013", "locality": "Madrid"}
    # Next district: the same street (a long one) at another number, or another street.
    assert _address_level(home, {**home, "line1": "Calle Mayor 7", "postal_code": "28012"}) == (
        "same_locality"
    )
    assert _address_level(home, {**home, "line1": "Calle Toledo 5", "postal_code": "28012"}) == (
        "same_locality"
    )
    # The same street and number in another town is another building.
    elsewhere = {"line1": "Calle Mayor 5", "postal_code": "28014", "locality": "Alcalá"}
    assert _address_level(home, elsewhere) == "different"


def test_nicknames_and_single_component_dates() -> None:
    bill = record(given_name="Bill", family_name="Smith", date_of_birth="1980-03-15")
    william = record(given_name="William", family_name="Smith", date_of_birth="1981-03-15")
    levels = compare_records(bill, william)
    assert levels["given_name"] == "nickname"
    assert levels["date_of_birth"] == "one_component"


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("Michae1", "Michael", "close"),  # OCR: 1 read for l
        ("Jarnes", "James", "close"),  # OCR: rn read for m
        ("Aan", "Ana", "close"),  # two letters swapped in a short name
        ("Jmi", "James", "nickname"),  # a typo of the nickname Jim
        ("Joe", "John", "different"),  # one letter from Jon (John), but a name of its own
        ("Frncisco", "Paco", "nickname"),  # a typo of the name Paco stands for
        ("Dayid", "David", "close"),  # not a name, one letter from one
        ("Tevesa", "Teresa", "close"),
        ("Marta", "María", "fuzzy"),  # one letter apart, but two names: maybe twins
        ("Ana", "Ada", "different"),  # too short to call either a misspelling
        ("Aa", "Ana", "close"),  # but a short name with a letter dropped is one
        ("Juan", "Julia", "different"),
        ("Makr", "Mwrk", "close"),  # two slips of one name, mark
        ("Jirn", "James", "nickname"),  # jim misread (rn for m), a form of james
        ("Jm", "Jmes", "nickname"),  # jim or jem, and james: forms of one name either way
        ("Mara", "Molly", "different"),  # mara could be mary (molly), or maria, marta, sara
    ],
)
def test_given_name_levels_recognise_misreadings_not_other_names(
    a: str, b: str, level: str
) -> None:
    assert compare_records(record(given_name=a), record(given_name=b))["given_name"] == level
    assert compare_records(record(given_name=b), record(given_name=a))["given_name"] == level


def test_emails_a_number_apart_are_two_accounts_not_a_typo() -> None:
    typo = compare_records(
        record(email="garcia.antonio5281@gmail.com"), record(email="garcia.antonoi5281@gmail.com")
    )
    other = compare_records(
        record(email="garcia.antonio5281@gmail.com"), record(email="garcia.antonio5251@gmail.com")
    )
    assert (typo["email"], other["email"]) == ("close", "different")


def test_an_ocr_misread_surname_is_close() -> None:
    levels = compare_records(record(family_name="A1varez"), record(family_name="Álvarez"))
    assert levels["family_name"] == "close"


def test_swapped_names_are_recognised() -> None:
    swapped = record(given_name="García López", family_name="Ana", date_of_birth="1990-04-01")
    score = score_pair(ANA, swapped, DEFAULT_PARAMETERS)
    assert score.names_swapped
    assert score.level("given_name") == "exact"


def test_a_swapped_record_with_a_nickname_is_the_same_person() -> None:
    shared = {"date_of_birth": "2002-04-10", "email": "ws@example.com", "phone": "+447425442704"}
    swapped = record(given_name="Smith", family_name="Bill", **shared)
    straight = record(given_name="William", family_name="Smith", **shared)
    for a, b in ((swapped, straight), (straight, swapped)):
        score = score_pair(a, b, DEFAULT_PARAMETERS)
        assert score.names_swapped
        assert {score.level("given_name"), score.level("family_name")} == {"nickname", "exact"}
        assert guards(Candidate("u", score)) == ()


def test_one_identity_of_a_user_linking_cleanly_is_enough() -> None:
    # The strongest pair is with an identity whose given name is garbled (Rbt): it is guarded,
    # and must not stop the clean link the other identity makes.
    home = {"line1": "25 Oak Street", "postal_code": "LS1 1HS", "locality": "Leeds"}
    shared = {"date_of_birth": "1972-10-28", "address": home}
    incoming = record(given_name="Hil", family_name="Robert", phone="+447931401958", **shared)
    held = [
        record(given_name="Rbt", family_name="Hill", phone="+447931401958", **shared),
        record(given_name="Robert", family_name="Hill", email="rh@example.com", **shared),
    ]
    scorer = PairScorer(DEFAULT_PARAMETERS, None, DEFAULT_PARAMETERS.prior_weight)
    scores = scorer.scores_between([incoming], held)
    assert guards(Candidate("u", scores[0])) == ("given names differ",)
    chosen = linking_score(scores, Thresholds())
    assert chosen.probability >= Thresholds().link
    assert guards(Candidate("u", chosen)) == ()
    # Nothing clean above the link threshold: the strongest score speaks, guards and all.
    assert linking_score(scores[:1], Thresholds()) is scores[0]


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


def test_blocking_survives_each_single_error() -> None:
    variants = [
        record(given_name="Ana", family_name="Garsia", date_of_birth="1990-04-01"),  # typo
        record(given_name="García", family_name="Ana", date_of_birth="1990-04-01"),  # swap
        record(given_name="Ana", family_name="García", date_of_birth="1990-01-04"),  # transposed
        record(given_name="Ana", family_name="Pérez", phone="+34612345678"),  # new surname
        record(email="ana.garcia@example.com"),  # email only
        record(given_name="Ana", family_name="García", address={"postal_code": "28013"}),
        record(given_name="Anita", family_name="García"),  # nickname, nothing else
    ]
    keys = set(blocking_keys(ANA))
    for variant in variants:
        assert keys & set(blocking_keys(variant)), variant


def test_an_id_with_two_digits_swapped_is_a_candidate_when_nothing_else_is_shared() -> None:
    home = {"line1": "3 Wyselaskie Circuit", "postal_code": "7250", "locality": "Mentone"}
    a = record(
        given_name="Casey",
        family_name="Flatman",
        address=home,
        government_id={"type": "social_security", "country": "AU", "value": "9564208"},
    )
    b = record(
        given_name="Casey",
        family_name="Flatan",
        address={**home, "postal_code": "7205"},
        government_id={"type": "social_security", "country": "AU", "value": "9564028"},
    )
    other_initial = record(
        given_name="Kasey",
        family_name="Flatan",
        government_id={"type": "social_security", "country": "AU", "value": "9564028"},
    )
    shared = set(blocking_keys(a)) & set(blocking_keys(b))
    assert {kind for kind, _ in shared} == {"gov_id_digits"}
    assert not {k for k in blocking_keys(a) if k[0] == "gov_id_digits"} & set(
        blocking_keys(other_initial)
    )


def test_different_valid_ids_conflict_but_a_typo_does_not() -> None:
    other_id = record(government_id={"type": "national_id", "country": "ES", "value": "87654321X"})
    typo = record(government_id={"type": "national_id", "country": "ES", "value": "12345687Z"})
    bad_checksum = record(
        government_id={"type": "national_id", "country": "ES", "value": "87654321A"}
    )
    passport = record(government_id={"type": "passport", "country": "ES", "value": "AB123456"})
    assert conflicts(other_id, [ANA])
    assert not conflicts(typo, [ANA])
    assert not conflicts(bad_checksum, [ANA])
    assert not conflicts(passport, [ANA])


def test_ids_of_a_kind_with_no_check_that_differ_are_no_conflict() -> None:
    # A renewed passport, or a number mistyped beyond one edit: scored as a disagreement, not
    # proof of two people, since neither id can be told valid.
    old_passport = record(government_id={"type": "passport", "country": "GB", "value": "AB123456"})
    new_passport = record(government_id={"type": "passport", "country": "GB", "value": "CD987654"})
    assert old_passport.gov_valid is None
    assert not conflicts(new_passport, [old_passport])
    assert compare_records(new_passport, old_passport)["government_id"] == "different"


def test_the_same_id_and_given_name_link_across_a_mistyped_birth_date() -> None:
    mistyped = record(
        **{**ANA_ATTRIBUTES, "email": None, "phone": None, "date_of_birth": "1909-04-10"}
    )
    decision = decide([_candidate("u1", mistyped)], Thresholds())
    assert decision.outcome is Outcome.LINK
    # Without the id, another birth date under the same name may be a namesake: a question.
    namesake = record(
        **{**ANA_ATTRIBUTES, "email": None, "phone": None, "government_id": None,
           "date_of_birth": "1909-04-10"}
    )  # fmt: skip
    decision = decide([_candidate("u1", namesake)], Thresholds())
    assert decision.outcome is Outcome.REVIEW
    assert "birth dates differ" in decision.review[0].reasons


def _candidate(user: str, other: MatchRecord, held: MatchRecord = ANA) -> Candidate[str]:
    return Candidate(user, score_pair(other, held, DEFAULT_PARAMETERS), conflicts(other, [held]))


def test_decide_links_above_threshold() -> None:
    decision = decide([_candidate("u1", ANA)], Thresholds())
    assert decision.outcome is Outcome.LINK and decision.user == "u1"


def test_decide_creates_when_nothing_is_close() -> None:
    stranger = record(given_name="Zoe", family_name="Smith", date_of_birth="2001-09-09")
    assert decide([_candidate("u1", stranger)], Thresholds()).outcome is Outcome.NEW
    assert decide([], Thresholds()).outcome is Outcome.NEW


def _eva_at_home(born: str) -> MatchRecord:
    """Ana's sister: her surname, phone and address, another given name."""
    return record(
        given_name="Eva",
        family_name="García López",
        phone="+34 612 345 678",
        date_of_birth=born,
        address={"line1": "Calle Mayor 5", "postal_code": "28013"},
    )


def _jirn_with_anas_id(born: str | None, family: str = "García López") -> MatchRecord:
    return record(
        given_name="Jirn",
        family_name=family,
        date_of_birth=born,
        government_id={"type": "national_id", "country": "ES", "value": "12345678Z"},
    )


def test_a_twin_goes_to_review_not_to_a_link() -> None:
    candidate = _candidate("u1", _eva_at_home("1990-04-01"))
    assert candidate.score.probability > 0.995
    decision = decide([candidate], Thresholds())
    assert decision.outcome is Outcome.REVIEW
    assert decision.review[0].reasons == ("given names differ",)


def test_the_same_id_and_birth_date_link_whatever_the_given_name_says() -> None:
    # "Jirn" is no name of Ana's, but twins never share a national id: one person, a bad form.
    decision = decide([_candidate("u1", _jirn_with_anas_id("1990-04-01"))], Thresholds())
    assert decision.outcome is Outcome.LINK
    # The same id with another birth date stays a question (a parent's id on a child's form).
    decision = decide([_candidate("u1", _jirn_with_anas_id("2015-06-30"))], Thresholds())
    assert decision.outcome is Outcome.REVIEW
    assert "given names differ" in decision.review[0].reasons


def test_the_same_id_and_surname_link_when_no_birth_date_can_tell() -> None:
    decision = decide([_candidate("u1", _jirn_with_anas_id(None))], Thresholds())
    assert decision.outcome is Outcome.LINK
    # Under another surname the id alone does not overrule the given name.
    other_surname = _candidate("u1", _jirn_with_anas_id(None, family="Pérez"))
    assert "given names differ" in score_guards(other_surname.score)
    # Names swapped on one form (García López, Jirn): the surname still agrees, crosswise.
    swapped = record(
        given_name="García López",
        family_name="Jirn",
        government_id={"type": "national_id", "country": "ES", "value": "12345678Z"},
    )
    candidate = _candidate("u1", swapped)
    assert candidate.score.names_swapped
    assert decide([candidate], Thresholds()).outcome is Outcome.LINK


def test_a_household_member_born_another_year_is_a_new_user_not_a_question() -> None:
    # Surname, phone and address shared score high; another given name and another birth
    # date say two people, so nothing is queued for a steward. The twin above, born the same
    # day, is queued.
    candidate = _candidate("u1", _eva_at_home("1994-09-12"))
    assert candidate.score.probability > Thresholds().review
    decision = decide([candidate], Thresholds())
    assert decision.outcome is Outcome.NEW
    assert decision.review == ()


def test_conflicting_valid_ids_are_high_risk_review() -> None:
    same_but_id = record(
        given_name="Ana",
        family_name="García López",
        email="ana.garcia@example.com",
        date_of_birth="1990-04-01",
        government_id={"type": "national_id", "country": "ES", "value": "87654321X"},
    )
    decision = decide([_candidate("u1", same_but_id)], Thresholds())
    assert decision.outcome is Outcome.REVIEW
    assert decision.review[0].risk is Risk.HIGH


def test_a_signal_matching_two_users_merges_them() -> None:
    decision = decide([_candidate("u1", ANA), _candidate("u2", ANA)], Thresholds())
    assert decision.outcome is Outcome.LINK
    assert {decision.user, *decision.merge} == {"u1", "u2"}


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="thresholds"):
        Thresholds(link=0.5, review=0.9)


def test_em_recovers_separated_m_and_u() -> None:
    rng = random.Random(7)
    vectors = []
    for _ in range(300):  # matches
        vectors.append(
            {"given_name": "exact", "date_of_birth": rng.choice(["exact"] * 9 + ["transposed"])}
        )
    for _ in range(3000):  # non-matches
        vectors.append(
            {"given_name": rng.choice(["different"] * 9 + ["exact"]), "date_of_birth": "different"}
        )
    result = train(vectors, DEFAULT_PARAMETERS)
    params = result.parameters
    assert result.converged
    assert params.m["date_of_birth"]["exact"] > 0.75
    assert params.u["date_of_birth"]["different"] > 0.95
    assert 0.05 < params.prior < 0.15
    assert ModelParameters.from_json(1, params.to_json()).weights == params.weights


def test_em_keeps_u_measured_on_random_pairs() -> None:
    # Candidates blocked on the given name all agree on it, matches or not: a u measured among
    # them makes the shared name worthless. Random pairs say how rare agreeing on it is.
    rng = random.Random(3)
    blocked = [{"given_name": "exact", "date_of_birth": "exact"}] * 300
    blocked += [{"given_name": "exact", "date_of_birth": "different"}] * 3000
    at_random = [
        {
            "given_name": rng.choice(["different"] * 99 + ["exact"]),
            "date_of_birth": rng.choice(["different"] * 999 + ["exact"]),
        }
        for _ in range(20_000)
    ]
    u = u_from_random_pairs(at_random)
    fixed = train(blocked, DEFAULT_PARAMETERS, fixed_u=u).parameters
    free = train(blocked, DEFAULT_PARAMETERS).parameters
    assert fixed.u == u
    assert fixed.weights["given_name"]["exact"] > 4
    assert free.weights["given_name"]["exact"] < 1
    with pytest.raises(ValueError, match="random pairs"):
        u_from_random_pairs([])


def test_em_per_block_leaves_out_the_fields_each_key_forces() -> None:
    # Pairs sharing an email are the same people; pairs sharing a name are mostly strangers
    # born on other days. Scored with random-pair u, the shared name alone would make every
    # stranger look like a match, and m would learn that matches are born on different days.
    match = {"given_name": "exact", "family_name": "exact", "email": "exact"}
    pairs: list[tuple[dict[str, str], set[str]]] = [
        ({**match, "date_of_birth": "exact"}, {"email", "full_name"})
    ] * 300
    stranger = {"given_name": "exact", "family_name": "exact", "email": "different"}
    pairs += [({**stranger, "date_of_birth": "different"}, {"full_name"})] * 3000
    random_u = {"given_name": "exact", "family_name": "exact", "email": "different"}
    at_random = [{**random_u, "date_of_birth": "different"}] * 10
    at_random += [{"given_name": "different", "family_name": "different"}] * 990
    u = u_from_random_pairs(at_random)
    per_block = train_per_block(pairs, DEFAULT_PARAMETERS, u).parameters
    pooled = train([v for v, _ in pairs], DEFAULT_PARAMETERS, fixed_u=u).parameters
    assert per_block.m["date_of_birth"]["exact"] > 0.75
    assert pooled.m["date_of_birth"]["exact"] < 0.25
    assert unblocked(match, ["full_name"]) == {"email": "exact"}


def test_every_kind_of_blocking_key_says_which_fields_it_forces() -> None:
    assert {kind for kind, _ in blocking_keys(ANA)} == set(FIELDS_BLOCKED_BY)
    fields = {c.field for c in COMPARISONS}
    assert all(set(forced) <= fields for forced in FIELDS_BLOCKED_BY.values())


def test_random_pairs_are_distinct_pairs_of_different_records() -> None:
    pairs = random_pairs(list(range(100)), 500, seed=1)
    assert len(pairs) == len(set(pairs)) == 500
    assert all(a < b for a, b in pairs)
    assert len(random_pairs(list(range(5)), 500, seed=1)) == 10  # all there are


def test_candidates_are_ranked_by_shared_key_strength_and_bounded() -> None:
    email, name = ("email", b"e"), ("full_name", b"n")
    found = [("email", b"e", "i1", "strong")] + [
        ("full_name", b"n", f"i{n}", f"weak{n:02d}") for n in range(20)
    ]
    kept = best_candidates([[email, name]], found, per_record=3)
    assert "strong" in kept
    assert len(kept) == 3
    assert best_candidates([[("phone", b"p")]], found) == set()


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


def test_a_misspelt_name_at_the_same_address_is_still_a_candidate() -> None:
    home = {"line1": "Calle Mayor 5", "postal_code": "28013", "locality": "Madrid"}
    a = record(given_name="Carlos", family_name="García", address=home)
    b = record(given_name="Carlos", family_name="Garccia", address=home)
    assert {k for k in blocking_keys(a) if k[0] == "address"} & set(blocking_keys(b))
