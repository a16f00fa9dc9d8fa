"""Reading signals from files: JSONL (one signal per line) or CSV with a column mapping.

Each line yields either a Signal or the errors that reject it, with its line number, so one bad
line is reported and the rest go on.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from pydantic import ValidationError

from mds.domain.signals import Address, Attributes, GovernmentId, Signal, signal_errors

ENVELOPE_COLUMNS = ("event_id", "source_system", "source_record_id", "event_type", "occurred_at")
NESTED = {"address": "address_", "government_id": "government_id_"}
# What a CSV column may name: an envelope field, an attribute, or a part of a nested one.
CSV_FIELDS = frozenset(
    [
        *ENVELOPE_COLUMNS,
        *(a for a in Attributes.model_fields if a not in NESTED),
        *(f"address_{f}" for f in Address.model_fields),
        *(f"government_id_{f}" for f in GovernmentId.model_fields),
    ]
)
# The byte order mark spreadsheet programs put before a UTF-8 export: not part of the data.
BOM = "\ufeff"


@dataclass(frozen=True)
class ParsedLine:
    number: int
    signal: Signal | None
    errors: list[dict[str, str]] = field(default_factory=list)


def read_jsonl(stream: IO[str], *, source_system: str | None = None) -> Iterator[ParsedLine]:
    """One signal per line. With `source_system`, a line that names none takes it, and a line
    that names another is rejected (a file from one source, as its importer said)."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line.removeprefix(BOM) if number == 1 else line)
        except json.JSONDecodeError as exc:
            yield ParsedLine(number, None, [{"field": "", "message": f"invalid JSON: {exc.msg}"}])
            continue
        if source_system is not None and isinstance(raw, dict):
            named = raw.setdefault("source_system", source_system)
            if named != source_system:
                message = f"{named!r} is not the file's source, {source_system!r} (--source)"
                yield ParsedLine(number, None, [{"field": "source_system", "message": message}])
                continue
        yield _validate(number, raw)


def read_csv(
    stream: IO[str],
    *,
    source_system: str,
    mapping: Mapping[str, str],
    default_event_type: str,
    default_occurred_at: datetime,
) -> Iterator[ParsedLine]:
    """CSV columns are attribute names (`address_postal_code`, `government_id_value`, …) or
    envelope fields; `mapping` renames file columns to those names first. The header is read
    at once: a column that is neither raises UnknownColumnsError before any row is read."""
    reader = csv.reader(stream)
    header = next(reader, [])
    if header:
        header[0] = header[0].removeprefix(BOM)
    unknown = [c for c in header if c and mapping.get(c, c) not in CSV_FIELDS]
    if unknown:
        raise UnknownColumnsError(unknown)
    return _csv_rows(
        reader,
        header,
        source_system=source_system,
        mapping=mapping,
        default_event_type=default_event_type,
        default_occurred_at=default_occurred_at,
    )


def _csv_rows(
    reader: Any,
    header: list[str],
    *,
    source_system: str,
    mapping: Mapping[str, str],
    default_event_type: str,
    default_occurred_at: datetime,
) -> Iterator[ParsedLine]:
    while True:
        number = reader.line_num + 1  # where the next row starts (a quoted value may span lines)
        values = next(reader, None)
        if values is None:
            return
        if not values:
            continue  # a blank line
        if len(values) > len(header):
            message = f"{len(values)} values for the header's {len(header)} columns"
            yield ParsedLine(number, None, [{"field": "", "message": message}])
            continue
        # Missing trailing values are empty, as csv.DictReader made them: the event id derived
        # from the row must not change between versions, or a re-import would not be a no-op.
        row = dict(zip(header, values + [""] * (len(header) - len(values)), strict=True))
        fields = {mapping.get(k, k): v.strip() for k, v in row.items() if k}
        content = json.dumps(fields, sort_keys=True)
        envelope: dict[str, Any] = {
            "source_system": fields.pop("source_system", "") or source_system,
            "source_record_id": fields.pop("source_record_id", ""),
            "event_type": fields.pop("event_type", "") or default_event_type,
            "occurred_at": fields.pop("occurred_at", "") or default_occurred_at.isoformat(),
        }
        # Without an event id, one is derived from the row, so re-importing a file is a no-op.
        event_id = fields.pop("event_id", "")
        envelope["event_id"] = event_id or hashlib.sha256(content.encode()).hexdigest()[:32]
        attributes: dict[str, Any] = {}
        for name, value in fields.items():
            if value == "":
                continue
            nested = next((a for a, prefix in NESTED.items() if name.startswith(prefix)), None)
            if nested is not None:
                attributes.setdefault(nested, {})[name.removeprefix(NESTED[nested])] = value
            else:
                attributes[name] = value
        envelope["attributes"] = attributes
        yield _validate(number, envelope)


class UnknownColumnsError(ValueError):
    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        named = ", ".join(repr(c) for c in columns)
        super().__init__(
            f"column(s) {named} name no signal field or attribute;"
            " rename them with --map COLUMN=field"
        )


def _validate(number: int, raw: Any) -> ParsedLine:
    try:
        return ParsedLine(number, Signal.model_validate(raw))
    except ValidationError as exc:
        return ParsedLine(number, None, signal_errors(exc))
