import pytest
from pydantic import ValidationError

from mds.domain.signals import Signal, signal_errors


def envelope(**attributes: object) -> dict[str, object]:
    return {
        "event_id": "e-1",
        "source_system": "crm",
        "source_record_id": 42,
        "event_type": "crm_import",
        "occurred_at": "2026-11-01T00:00:00Z",
        "attributes": attributes,
    }


def test_numbers_are_taken_as_text_and_left_to_normalization() -> None:
    signal = Signal.model_validate(
        envelope(phone=612345678, date_of_birth=19900401, address={"postal_code": 28013})
    )
    assert signal.source_record_id == "42"
    assert signal.attributes.phone == "612345678"
    assert signal.attributes.date_of_birth == "19900401"
    assert signal.attributes.address is not None
    assert signal.attributes.address.postal_code == "28013"


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({"phone": True}, "attributes.phone"),
        ({"given_name": ["Ana"]}, "attributes.given_name"),
        ({"nickname": "Anita"}, "attributes.nickname"),
        ({"address": {"street": "Mayor 1"}}, "attributes.address.street"),
    ],
)
def test_a_value_of_another_kind_is_malformed_and_named(
    attributes: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        Signal.model_validate(envelope(**attributes))
    assert [e["field"] for e in signal_errors(raised.value)] == [field]


@pytest.mark.parametrize("field", ["event_id", "source_record_id"])
@pytest.mark.parametrize("character", ["\u0000", "\u001b", "\u0085"])
def test_an_identifier_holding_a_control_character_is_malformed(field: str, character: str) -> None:
    raw = {**envelope(), field: f"R{character}7"}
    with pytest.raises(ValidationError) as raised:
        Signal.model_validate(raw)
    [error] = signal_errors(raised.value)
    assert error["field"] == field
    assert f"U+{ord(character):04X}" in error["message"]


def test_a_long_value_is_left_to_normalization_an_absurd_one_is_malformed() -> None:
    long_name = Signal.model_validate(envelope(given_name="A" * 600, email="a@example.com"))
    assert long_name.attributes.given_name == "A" * 600
    with pytest.raises(ValidationError) as raised:
        Signal.model_validate(envelope(given_name="A" * 5000))
    assert [e["field"] for e in signal_errors(raised.value)] == ["attributes.given_name"]
