import pytest

from mds.matching.comparisons import compare_records
from mds.matching.decision import (
    Candidate,
    guards,
)
from mds.matching.parameters import DEFAULT_PARAMETERS
from mds.matching.scoring import score_pair
from tests.unit.matching_helpers import ANA, record


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
