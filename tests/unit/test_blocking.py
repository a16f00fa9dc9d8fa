from mds.matching.blocking import FIELDS_BLOCKED_BY, blocking_keys
from mds.matching.candidates import best_candidates
from mds.matching.comparisons import COMPARISONS
from tests.unit.matching_helpers import ANA, record


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


def test_every_kind_of_blocking_key_says_which_fields_it_forces() -> None:
    assert {kind for kind, _ in blocking_keys(ANA)} == set(FIELDS_BLOCKED_BY)
    fields = {c.field for c in COMPARISONS}
    assert all(set(forced) <= fields for forced in FIELDS_BLOCKED_BY.values())


def test_candidates_are_ranked_by_shared_key_strength_and_bounded() -> None:
    email, name = ("email", b"e"), ("full_name", b"n")
    found = [("email", b"e", "i1", "strong")] + [
        ("full_name", b"n", f"i{n}", f"weak{n:02d}") for n in range(20)
    ]
    kept = best_candidates([[email, name]], found, per_record=3)
    assert "strong" in kept
    assert len(kept) == 3
    assert best_candidates([[("phone", b"p")]], found) == set()


def test_a_misspelt_name_at_the_same_address_is_still_a_candidate() -> None:
    home = {"line1": "Calle Mayor 5", "postal_code": "28013", "locality": "Madrid"}
    a = record(given_name="Carlos", family_name="García", address=home)
    b = record(given_name="Carlos", family_name="Garccia", address=home)
    assert {k for k in blocking_keys(a) if k[0] == "address"} & set(blocking_keys(b))
