"""The ingestion contract (DESIGN.md §4): a signal envelope with a closed attribute vocabulary.

The envelope's shape is strict: unknown fields, wrong types or a missing field reject the signal
with an error naming the field. Attribute *values* are taken as sent (strings) and judged later by
normalization: a 13th month is accepted, kept raw, and reported as a data-quality issue.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from mds.domain.normalization.text import control_character


class EventType(StrEnum):
    SIGNUP = "signup"
    CRM_IMPORT = "crm_import"
    SUPPORT_UPDATE = "support_update"
    DELETE_REQUEST = "delete_request"


def _without_control_characters(value: str) -> str:
    # Identifiers are stored and shown as they are: PostgreSQL's text cannot hold NUL, and a
    # record id is printed in exports and audit entries.
    if (found := control_character(value)) is not None:
        raise ValueError(f"holds the control character {found}")
    return value


Identifier = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=256),
    AfterValidator(_without_control_characters),
]
SourceSystem = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    ),
]
# Only a guard against abuse: a value longer than normalization takes (MAX_VALUE_CHARS) is an
# invalid value, kept raw and reported, not a reason to lose the signal's other attributes.
Text = Annotated[str, StringConstraints(max_length=4096)]


class _Strict(BaseModel):
    # Numbers are taken as text: exports write phones, postcodes, birth dates and record ids as
    # JSON numbers, and the value is judged by normalization (kept, or flagged as an issue),
    # not refused with the whole signal. Anything else of the wrong type is malformed.
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, coerce_numbers_to_str=True
    )


class Address(_Strict):
    line1: Text | None = None
    line2: Text | None = None
    locality: Text | None = None
    region: Text | None = None
    postal_code: Text | None = None
    country: Text | None = None


class GovernmentId(_Strict):
    type: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    country: Text | None = None
    value: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class Attributes(_Strict):
    given_name: Text | None = None
    family_name: Text | None = None
    email: Text | None = None
    phone: Text | None = None
    date_of_birth: Text | None = None
    address: Address | None = None
    government_id: GovernmentId | None = None
    locale: Text | None = None
    preferences: dict[str, Any] | None = None

    def present(self) -> dict[str, Any]:
        """Only the attributes this signal actually carries, as plain JSON values."""
        return self.model_dump(exclude_none=True, mode="json")


ATTRIBUTE_NAMES: tuple[str, ...] = tuple(Attributes.model_fields)


class Signal(_Strict):
    event_id: Identifier
    source_system: SourceSystem
    source_record_id: Identifier
    event_type: EventType
    occurred_at: AwareDatetime
    attributes: Attributes = Field(default_factory=Attributes)

    @property
    def key(self) -> tuple[str, str]:
        return (self.source_system, self.source_record_id)


def signal_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Validation errors as [{field, message}], fields dotted (`attributes.address.country`)."""
    return [
        {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
        for err in exc.errors()
    ]
