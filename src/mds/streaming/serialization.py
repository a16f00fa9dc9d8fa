"""Event values on the wire: JSON by default, Avro in the Confluent wire format with a registry."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Any, Protocol

import fastavro
import httpx
from fastavro.read import SchemaResolutionError
from fastavro.utils import generate_many

SCHEMAS_DIR = Path(__file__).resolve().parents[3] / "schemas"
MAGIC_BYTE = 0


class UnknownSchemaError(ValueError):
    """A message names a schema id the registry does not have: the message is unusable."""


class EventSerializer(Protocol):
    content_type: str

    def serialize(self, event: dict[str, Any]) -> bytes: ...


class JsonSerializer:
    content_type = "application/json"

    def serialize(self, event: dict[str, Any]) -> bytes:
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def load_schema(name: str, directory: Path = SCHEMAS_DIR) -> dict[str, Any]:
    """The newest version of a schema kept in the repo (`schemas/<name>/v<N>.avsc`)."""
    versions = sorted((directory / name).glob("v*.avsc"), key=lambda p: int(p.stem[1:]))
    if not versions:
        raise FileNotFoundError(f"no schema versions under {directory / name}")
    schema: dict[str, Any] = json.loads(versions[-1].read_text())
    return schema


class SchemaRegistry:
    """The two calls of the Confluent Schema Registry REST API that producers and consumers need."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self._client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)
        self._by_id: dict[int, Any] = {}

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        response = self._client.post(
            f"/subjects/{subject}/versions",
            json={"schema": json.dumps(schema), "schemaType": "AVRO"},
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
        )
        if response.status_code >= 400:
            raise RuntimeError(
                f"schema registry {response.request.url} refused {subject}:"
                f" {response.status_code} {response.text[:300]}"
            )
        return int(response.json()["id"])

    def schema(self, schema_id: int) -> Any:
        if schema_id not in self._by_id:
            response = self._client.get(f"/schemas/ids/{schema_id}")
            if response.status_code == 404:
                raise UnknownSchemaError(f"schema registry has no schema id {schema_id}")
            response.raise_for_status()  # anything else: the registry is unwell, retry later
            raw = json.loads(response.json()["schema"])
            self._by_id[schema_id] = fastavro.parse_schema(raw)
        return self._by_id[schema_id]


class AvroSerializer:
    """Confluent framing: magic byte 0, the 4-byte schema id, then the Avro binary body."""

    content_type = "application/vnd.confluent.avro"

    def __init__(self, registry: SchemaRegistry, subject: str, schema: dict[str, Any]) -> None:
        self._schema = fastavro.parse_schema(schema)
        self._id = registry.register(subject, schema)
        self._header = struct.pack(">bI", MAGIC_BYTE, self._id)

    def serialize(self, event: dict[str, Any]) -> bytes:
        out = io.BytesIO()
        out.write(self._header)
        fastavro.schemaless_writer(out, self._schema, avro_event(event))
        return out.getvalue()


def decode_confluent(value: bytes, registry: SchemaRegistry) -> Any:
    if len(value) < 5 or value[0] != MAGIC_BYTE:
        raise ValueError("not in the Confluent wire format (magic byte 0 + schema id)")
    (schema_id,) = struct.unpack(">I", value[1:5])
    return fastavro.schemaless_reader(io.BytesIO(value[5:]), registry.schema(schema_id), None)


def avro_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event in the Avro schema's shape: free-form parts (profile, preferences) as JSON text
    so the schema need not follow every attribute's inner structure."""
    profile = event.get("profile")
    return {
        "event_id": event["event_id"],
        "type": event["type"],
        "user_id": event["user_id"],
        "version": event["version"],
        "occurred_at": event["occurred_at"],
        "changed": list(event.get("changed", [])),
        "merged_into": event.get("merged_into"),
        "related": json.dumps(
            {k: v for k, v in event.items() if k not in _AVRO_FIELDS}, sort_keys=True
        ),
        "profile": json.dumps(profile, sort_keys=True, ensure_ascii=False)
        if profile is not None
        else None,
    }


_AVRO_FIELDS = {
    "event_id",
    "type",
    "user_id",
    "version",
    "occurred_at",
    "changed",
    "merged_into",
    "profile",
}


def signal_from_avro(record: dict[str, Any]) -> dict[str, Any]:
    """A decoded Avro signal in the JSON contract's shape: absent attributes dropped, the
    preferences JSON text parsed."""
    attributes = {k: v for k, v in (record.get("attributes") or {}).items() if v is not None}
    if isinstance(attributes.get("preferences"), str):
        attributes["preferences"] = json.loads(attributes["preferences"])
    for nested in ("address", "government_id"):
        if isinstance(attributes.get(nested), dict):
            attributes[nested] = {k: v for k, v in attributes[nested].items() if v is not None}
    return {**record, "attributes": attributes}


def backward_incompatibilities(
    old: dict[str, Any], new: dict[str, Any], samples: int = 200
) -> list[str]:
    """Why data written with `old` cannot be read with `new` (empty: backward compatible).
    Checked by resolving generated records of the old schema with the new one as reader."""
    writer, reader = fastavro.parse_schema(old), fastavro.parse_schema(new)
    problems: list[str] = []
    for record in generate_many(writer, samples):
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, writer, record)
        buffer.seek(0)
        try:
            fastavro.schemaless_reader(buffer, writer, reader)
        except SchemaResolutionError as exc:
            problems.append(str(exc))
            break
    return problems
