import pytest

from mds.matching.comparisons import compare_records
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
from mds.matching.parameters import DEFAULT_PARAMETERS
from mds.matching.record import MatchRecord
from mds.matching.scoring import PairScorer, score_pair
from mds.matching.term_share import TermShare
from tests.unit.matching_helpers import ANA, ANA_ATTRIBUTES, record


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


HOME = {"line1": "Calle Alcalá 45", "postal_code": "08046", "locality": "Barcelona"}
NURIA = {"given_name": "Nuria", "family_name": "López", "phone": "+34631355756", "address": HOME}
RARE_NURIA = {"given_name": TermShare(0.001, 0.001), "family_name": TermShare(0.02, 0.02)}


def _nuria_scorer() -> PairScorer:
    return PairScorer(DEFAULT_PARAMETERS, lambda field, value: RARE_NURIA[field], -10.0)


def test_a_link_on_the_household_alone_gives_way_to_a_pair_whose_birth_dates_differ() -> None:
    # A household of two Nurias: the mother's identity that gave no birth date joined the
    # daughter's user (rare name, same phone and address). The mother's record with her own
    # birth date matches that identity cleanly, and the daughter's not at all.
    held = [
        record(**NURIA, email="lopez.nuria@example.com"),
        record(**NURIA, date_of_birth="1988-11-16"),
    ]
    incoming = record(**NURIA, date_of_birth="1959-12-23")
    scorer = _nuria_scorer()
    scores = scorer.scores_between([incoming], held)
    household_only = next(s for s in scores if s.level("date_of_birth") == "null")
    assert household_only.probability >= Thresholds().link and score_guards(household_only) == ()
    assert "birth dates differ" in score_guards(linking_score(scores, Thresholds()))
    # Without the daughter's identity it speaks: one person for all anyone can tell.
    alone = scorer.scores_between([incoming], held[:1])
    assert linking_score(alone, Thresholds()) is household_only
    # A clean pair that something identifies (the same email) speaks whatever another says.
    emailed = record(**NURIA, email="lopez.nuria@example.com", date_of_birth="1959-12-23")
    chosen = linking_score(scorer.scores_between([emailed], held), Thresholds())
    assert chosen.level("email") == "exact" and score_guards(chosen) == ()


def test_a_record_linking_two_users_on_the_household_alone_bridges_them_not_merges() -> None:
    scorer = _nuria_scorer()
    incoming = record(**NURIA, email="n@example.com")
    same_email = record(**NURIA, email="n@example.com", date_of_birth="1988-11-16")
    born_1959 = record(**NURIA, date_of_birth="1959-12-23")
    candidates = [
        Candidate("emailed", scorer.pair(incoming, same_email)),
        Candidate("household", scorer.pair(incoming, born_1959)),
        Candidate("emailed too", scorer.pair(incoming, record(**NURIA, email="n@example.com"))),
    ]
    decision = decide(candidates, Thresholds())
    assert decision.outcome is Outcome.LINK and decision.user == "emailed"
    assert decision.merge == ("emailed too",)
    assert decision.bridged == ("household",)
