"""PII masking for callers without `mds:read:pii`: enough to recognise a record, not to use it.

Masked values keep their type (a masked address is still an object) so one response schema
serves both views; what survives is what a support agent needs to tell two records apart.
"""

from __future__ import annotations

from typing import Any

MASK = "***"
_ADDRESS_KEPT = ("locality", "country")
_ID_KEPT = ("type", "country")


def mask_name(value: str | None) -> str | None:
    return f"{value[0]}{MASK}" if value else value


def mask_email(value: str | None) -> str | None:
    if not value:
        return value
    local, _, domain = value.rpartition("@")
    return f"{local[:1]}{MASK}@{domain}" if local else MASK


def mask_phone(value: str | None) -> str | None:
    if not value:
        return value
    return f"{MASK}{value[-2:]}" if len(value) > 4 else MASK


def mask_date(value: str | None) -> str | None:
    """Keep the year only: age bands stay possible, the birthday does not."""
    if not value:
        return value
    return f"{value[:4]}-**-**" if len(value) >= 4 else MASK


def mask_address(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if not value:
        return value
    return {k: value[k] for k in _ADDRESS_KEPT if k in value}


def mask_government_id(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if not value:
        return value
    kept = {k: value[k] for k in _ID_KEPT if k in value}
    raw = str(value.get("value") or "")
    kept["value"] = f"{MASK}{raw[-2:]}" if len(raw) > 4 else MASK
    return kept


_MASKS = {
    "given_name": mask_name,
    "family_name": mask_name,
    "email": mask_email,
    "phone": mask_phone,
    "date_of_birth": mask_date,
    "address": mask_address,
    "government_id": mask_government_id,
}


def mask_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """A copy with every PII attribute masked; anything else (locale, preferences) as is."""
    masked = dict(attributes)
    for name, mask in _MASKS.items():
        value = masked.get(name)
        if value is None:
            continue
        if isinstance(value, dict | str):
            masked[name] = mask(value)  # type: ignore[operator]
        else:
            masked[name] = MASK  # an invalid raw value of an unexpected type
    return masked
