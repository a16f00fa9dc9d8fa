"""A signal's attributes, normalized: comparison forms, golden-record values, quality issues."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mds.domain.normalization.address import NormalizedAddress, normalize_address
from mds.domain.normalization.dates import InvalidDateError, normalize_birth_date
from mds.domain.normalization.email import NormalizedEmail, normalize_email
from mds.domain.normalization.government_id import (
    InvalidGovernmentIdError,
    NormalizedGovernmentId,
    normalize_government_id,
)
from mds.domain.normalization.names import NormalizedName, normalize_name
from mds.domain.normalization.phone import normalize_phone, unverified_phone
from mds.domain.normalization.text import CONTROL_CHARACTER, control_character

_LOCALE = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z]{2}|\d{3}))?$")


@dataclass(frozen=True, slots=True)
class QualityIssue:
    """A problem with one attribute's value. The message never repeats the value (PII)."""

    attribute: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"attribute": self.attribute, "code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class NormalizedRecord:
    given_name: NormalizedName | None = None
    family_name: NormalizedName | None = None
    email: NormalizedEmail | None = None
    phone: str | None = None
    # A phone that failed validation but is a possible number: compared, never kept (E.164).
    unverified_phone: str | None = None
    date_of_birth: date | None = None
    address: NormalizedAddress | None = None
    government_id: NormalizedGovernmentId | None = None
    locale: str | None = None
    preferences: dict[str, Any] | None = None
    issues: tuple[QualityIssue, ...] = field(default=())

    def golden_values(self) -> dict[str, Any]:
        """Valid values in the form the golden record keeps (display forms, E.164, ISO)."""
        values: dict[str, Any] = {
            "given_name": self.given_name.display if self.given_name else None,
            "family_name": self.family_name.display if self.family_name else None,
            "email": self.email.value if self.email else None,
            "phone": self.phone,
            "date_of_birth": self.date_of_birth.isoformat() if self.date_of_birth else None,
            "address": self.address.display if self.address else None,
            "government_id": (
                self.government_id.as_dict()
                if self.government_id and self.government_id.checksum_valid is not False
                else None
            ),
            "locale": self.locale,
            "preferences": self.preferences,
        }
        return {name: value for name, value in values.items() if value is not None}


def _locale(raw: str) -> str | None:
    match = _LOCALE.match(raw.strip())
    if not match:
        return None
    language, region = match.groups()
    return language.lower() + (f"-{region.upper()}" if region else "")


class _InvalidValueError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# No name, email, phone, address line or id is longer; a longer value is a mistake upstream (a
# whole record pasted into one field), and would be indexed, compared and shown as a name.
MAX_VALUE_CHARS = 512
# Issues of values that are not even compared (an invalid phone otherwise still is).
UNUSABLE = {"control_character", "too_long"}


def _storable(raw: Any) -> None:
    """Raise for a string anywhere in a JSON value (keys too) holding a control character or
    longer than MAX_VALUE_CHARS. Written for speed: it runs for every value of every signal."""
    if isinstance(raw, str):
        if len(raw) > MAX_VALUE_CHARS or CONTROL_CHARACTER.search(raw):
            _unstorable(raw)
    elif isinstance(raw, dict):
        for key, value in raw.items():
            _storable(key)
            _storable(value)
    elif isinstance(raw, list):
        for value in raw:
            _storable(value)


def _unstorable(text: str) -> None:
    if (found := control_character(text)) is not None:
        raise _InvalidValueError("control_character", f"holds the control character {found}")
    raise _InvalidValueError("too_long", f"longer than {MAX_VALUE_CHARS} characters")


def _name(raw: str) -> NormalizedName:
    if (name := normalize_name(raw)) is None:
        raise _InvalidValueError("empty", "name has no letters or digits")
    return name


def _email(raw: str) -> NormalizedEmail:
    if (email := normalize_email(raw)) is None:
        raise _InvalidValueError("invalid_format", "not an email address")
    return email


def _address(raw: dict[str, Any]) -> NormalizedAddress | None:
    address = normalize_address(raw)
    if address is not None and address.country and not re.fullmatch(r"[A-Z]{2}", address.country):
        raise _InvalidValueError("invalid_country", "country must be an ISO 3166 alpha-2 code")
    return address


def _locale_tag(raw: str) -> str:
    if (locale := _locale(raw)) is None:
        raise _InvalidValueError("invalid_locale", "not a language tag like es-ES")
    return locale


def _government_id(raw: dict[str, Any]) -> NormalizedGovernmentId:
    try:
        return normalize_government_id(raw["type"], raw.get("country"), raw["value"])
    except InvalidGovernmentIdError as exc:
        raise _InvalidValueError("invalid_format", str(exc)) from None


def normalize_attributes(
    attributes: dict[str, Any], *, default_region: str | None, today: date
) -> NormalizedRecord:
    """Normalize what a signal carries; invalid values become issues, never exceptions."""

    def phone(raw: str) -> str:
        if (value := normalize_phone(raw, default_region)) is None:
            raise _InvalidValueError("invalid_phone", "not a valid phone number")
        return value

    def birth_date(raw: str) -> date:
        try:
            return normalize_birth_date(raw, today)
        except InvalidDateError as exc:
            raise _InvalidValueError("invalid_date", str(exc)) from None

    normalizers: dict[str, Callable[[Any], Any]] = {
        "given_name": _name,
        "family_name": _name,
        "email": _email,
        "phone": phone,
        "date_of_birth": birth_date,
        "address": _address,
        "government_id": _government_id,
        "locale": _locale_tag,
        "preferences": lambda raw: raw,
    }
    issues: list[QualityIssue] = []
    values: dict[str, Any] = {}
    for attribute, normalizer in normalizers.items():
        raw = attributes.get(attribute)
        if raw is None:
            continue
        try:
            _storable(raw)
            values[attribute] = normalizer(raw)
        except _InvalidValueError as exc:
            issues.append(QualityIssue(attribute, exc.code, str(exc)))
    raw_phone = attributes.get("phone")
    unusable = any(i.attribute == "phone" and i.code in UNUSABLE for i in issues)
    if "phone" not in values and isinstance(raw_phone, str) and not unusable:
        values["unverified_phone"] = unverified_phone(raw_phone, default_region)
    gov = values.get("government_id")
    if gov is not None and gov.checksum_valid is False:
        issues.append(
            QualityIssue("government_id", "checksum", f"{gov.type} check digit does not match")
        )
    return NormalizedRecord(**values, issues=tuple(issues))
