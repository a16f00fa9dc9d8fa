from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mds.domain.normalization import normalize_attributes
from mds.domain.normalization.dates import InvalidDateError, normalize_birth_date
from mds.domain.normalization.email import normalize_email
from mds.domain.normalization.government_id import normalize_government_id
from mds.domain.normalization.names import are_nicknames, normalize_name
from mds.domain.normalization.phone import normalize_phone, unverified_phone
from mds.domain.normalization.text import display, fold
from mds.matching.record import match_record

TODAY = date(2026, 11, 25)


@given(st.text())
def test_fold_is_idempotent(value: str) -> None:
    assert fold(fold(value)) == fold(value)


@given(st.text(alphabet=st.characters(codec="latin-1", categories=["L", "Zs", "Nd"])))
def test_fold_ignores_case_and_accents(value: str) -> None:
    assert fold(value.upper()) == fold(value.lower()) == fold(value)


@given(st.text())
def test_fold_has_no_accents_or_outer_spaces(value: str) -> None:
    folded = fold(value)
    assert folded == folded.strip()
    assert "  " not in folded
    assert not any(ch in folded for ch in "áéíóúñçü")


def test_accents_fold_for_comparison_and_stay_for_display() -> None:
    name = normalize_name("  José   María ")
    assert name is not None
    assert name.display == "José María"
    assert name.folded == "jose maria"
    assert fold("GARCÍA") == fold("garcia") == "garcia"
    assert fold("Øyvind Straße") == "oyvind strasse"
    assert display("Ａｎａ") == "Ana"  # NFKC: full-width letters


def test_nicknames_are_a_comparison_not_a_rewrite() -> None:
    assert are_nicknames("bill", "william")
    assert are_nicknames("paco", "francisco")
    assert not are_nicknames("bill", "bill")
    assert not are_nicknames("ana", "maria")


@pytest.mark.parametrize(
    ("raw", "value", "canonical"),
    [
        ("Ana.Garcia@Example.COM", "ana.garcia@example.com", "ana.garcia@example.com"),
        ("a.n.a+promo@gmail.com", "a.n.a+promo@gmail.com", "ana@gmail.com"),
        ("ana@googlemail.com", "ana@googlemail.com", "ana@gmail.com"),
        ("ana+x@example.org", "ana+x@example.org", "ana@example.org"),
    ],
)
def test_email_forms(raw: str, value: str, canonical: str) -> None:
    email = normalize_email(raw)
    assert email is not None
    assert (email.value, email.canonical) == (value, canonical)


@pytest.mark.parametrize("raw", ["not-an-email", "a@b", "a b@c.com", "@x.com", ""])
def test_invalid_emails(raw: str) -> None:
    assert normalize_email(raw) is None


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+34 612 345 678", None, "+34612345678"),
        ("612-345-678", "ES", "+34612345678"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("0034 612345678", "ES", "+34612345678"),
    ],
)
def test_phones_to_e164(raw: str, region: str | None, e164: str) -> None:
    assert normalize_phone(raw, region) == e164


@given(st.from_regex(r"\+34 ?6\d{2} ?\d{3} ?\d{3}", fullmatch=True))
def test_phone_normalization_is_idempotent(raw: str) -> None:
    once = normalize_phone(raw, None)
    assert once is not None
    assert normalize_phone(once, None) == once


@pytest.mark.parametrize("raw", ["12", "call me", "+34 000"])
def test_invalid_phones(raw: str) -> None:
    assert normalize_phone(raw, "ES") is None


@pytest.mark.parametrize("raw", ["12", "call me", "+34 000", "+44 7666 666666"])
def test_what_is_no_possible_number_or_only_filler_is_not_compared_either(raw: str) -> None:
    assert unverified_phone(raw, "ES") is None


def test_a_possible_number_no_plan_lists_is_compared_but_not_kept() -> None:
    # 07631 is a UK pager range: a possible length, not a valid phone.
    record = normalize_attributes(
        {"given_name": "Robert", "phone": "+44 7631 669032"}, default_region="ES", today=TODAY
    )
    assert {(i.attribute, i.code) for i in record.issues} == {("phone", "invalid_phone")}
    assert record.golden_values() == {"given_name": "Robert"}
    assert match_record(record).phone == "+447631669032"


@given(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
def test_iso_dates_round_trip(value: date) -> None:
    assert normalize_birth_date(value.isoformat(), TODAY) == value
    assert normalize_birth_date(value.strftime("%Y/%m/%d"), TODAY) == value


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("1990-13-01", "month 13"),
        ("1990-02-30", "day 30"),
        ("2030-01-01", "future"),
        ("1850-01-01", "before 1900"),
        ("01/04/1990", "year-first"),
    ],
)
def test_invalid_dates_say_why_without_the_value(raw: str, reason: str) -> None:
    with pytest.raises(InvalidDateError, match=reason) as excinfo:
        normalize_birth_date(raw, TODAY)
    assert raw not in str(excinfo.value)


@pytest.mark.parametrize(
    ("value", "valid"),
    [("12345678Z", True), ("12345678-z", True), ("12345678A", False), ("X1234567L", True)],
)
def test_spanish_national_id_checksum(value: str, valid: bool) -> None:
    gov = normalize_government_id("national_id", "es", value)
    assert gov.checksum_valid is valid
    assert gov.kind == "national_id:ES"


def test_unknown_id_types_are_canonical_but_unchecked() -> None:
    gov = normalize_government_id("Passport", "fr", " 12ab-345 67 ")
    assert (gov.type, gov.country, gov.value, gov.checksum_valid) == (
        "passport",
        "FR",
        "12AB34567",
        None,
    )


def test_invalid_values_become_issues_and_stay_out_of_golden_values() -> None:
    record = normalize_attributes(
        {
            "given_name": "Ana",
            "email": "nope",
            "phone": "12",
            "date_of_birth": "1990-13-01",
            "government_id": {"type": "national_id", "country": "ES", "value": "12345678A"},
            "locale": "spanish please",
            "address": {"line1": "Calle Mayor 5", "country": "Spain"},
        },
        default_region="ES",
        today=TODAY,
    )
    codes = {(i.attribute, i.code) for i in record.issues}
    assert codes == {
        ("email", "invalid_format"),
        ("phone", "invalid_phone"),
        ("date_of_birth", "invalid_date"),
        ("government_id", "checksum"),
        ("locale", "invalid_locale"),
        ("address", "invalid_country"),
    }
    assert record.golden_values() == {"given_name": "Ana"}


def test_valid_record_golden_values() -> None:
    record = normalize_attributes(
        {
            "given_name": "Ana",
            "family_name": "García",
            "email": "Ana@Example.com",
            "phone": "612345678",
            "date_of_birth": "1990-04-01",
            "locale": "es_es",
            "address": {"line1": "C/ Mayor 5", "postal_code": "28 013", "country": "es"},
            "government_id": {"type": "dni", "country": "ES", "value": "12345678z"},
        },
        default_region="ES",
        today=TODAY,
    )
    assert record.issues == ()
    golden = record.golden_values()
    assert golden["family_name"] == "García"
    assert golden["email"] == "ana@example.com"
    assert golden["phone"] == "+34612345678"
    assert golden["date_of_birth"] == "1990-04-01"
    assert golden["locale"] == "es-ES"
    assert golden["government_id"] == {"type": "national_id", "country": "ES", "value": "12345678Z"}
    assert record.address is not None
    assert record.address.postal_code == "28013"
    assert record.address.street_tokens == ("calle", "mayor")
    assert record.address.house_number == "5"


def test_a_control_character_makes_a_value_invalid_wherever_it_hides() -> None:
    record = normalize_attributes(
        {
            "given_name": "An\u001b[31ma",
            "family_name": "García\tLópez",  # tab, line feed and return are only whitespace
            "phone": "+34 612\u0000345 678",
            "address": {"line1": "Calle Mayor 5", "locality": "Madrid\u0007", "country": "ES"},
            "preferences": {"newsletter\u0000": True},
        },
        default_region="ES",
        today=TODAY,
    )
    assert {(i.attribute, i.code, i.message) for i in record.issues} == {
        ("given_name", "control_character", "holds the control character U+001B"),
        ("phone", "control_character", "holds the control character U+0000"),
        ("address", "control_character", "holds the control character U+0007"),
        ("preferences", "control_character", "holds the control character U+0000"),
    }
    assert record.unverified_phone is None  # neither kept nor compared
    assert record.golden_values() == {"family_name": "García López"}


@given(st.text(alphabet=st.characters(categories=["L", "N", "P", "Zs"])))
def test_printable_text_has_no_control_character_issue(value: str) -> None:
    record = normalize_attributes({"family_name": value}, default_region=None, today=TODAY)
    assert all(issue.code != "control_character" for issue in record.issues)


def test_a_value_too_long_to_be_a_name_is_an_issue_and_the_others_stay() -> None:
    record = normalize_attributes(
        {
            "given_name": "Ana " * 200,
            "email": "ana@example.com",
            "government_id": {"type": "national_id", "country": "ES", "value": "1" * 600},
        },
        default_region="ES",
        today=TODAY,
    )
    assert {(i.attribute, i.code) for i in record.issues} == {
        ("given_name", "too_long"),
        ("government_id", "too_long"),
    }
    assert record.golden_values() == {"email": "ana@example.com"}
