"""The CDC publication delivers outbox inserts, and nothing else, through pgoutput.

What Debezium would read is read here with `pg_logical_slot_get_binary_changes` on a slot made
by `mds.streaming.replication.setup`, and the pgoutput protocol (version 1) is decoded far
enough to see relations and row changes: signals ingested through the app's own code path
reach the slot as outbox INSERTs carrying the event id and type; changes to the other tables
written in the same transactions, and the relay's `published_at` updates, do not.
"""

import dataclasses
import json
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import sessionmaker

from mds.security.providers import LocalKeyFileProvider
from mds.services.keys import load_keyring
from mds.store import migrate
from mds.streaming import replication
from mds.streaming.debezium import DEBEZIUM_AGGREGATE_TYPE
from tests.integration.helpers import settings_for
from tests.integration.ingest_helpers import ANA, service, signal

PUBLICATION = "mds_outbox_pub"


@dataclass
class Relation:
    namespace: str
    name: str
    columns: list[str]


@dataclass
class Change:
    kind: str  # I(nsert), U(pdate), D(elete)
    relation: Relation
    values: dict[str, str | None] = field(default_factory=dict)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return int(value)

    def string(self) -> str:
        end = self.data.index(b"\0", self.at)
        value = self.data[self.at : end].decode()
        self.at = end + 1
        return value

    def tuple_data(self) -> list[str | None]:
        values: list[str | None] = []
        for _ in range(self.take(">h")):
            kind = chr(self.take(">B"))
            if kind == "t":
                length = self.take(">i")
                values.append(self.data[self.at : self.at + length].decode())
                self.at += length
            else:  # n(ull) or u(nchanged TOAST)
                values.append(None)
        return values


def decode(messages: list[bytes]) -> tuple[list[str], list[Relation], list[Change]]:
    """Message kinds in order, relations announced, row changes (pgoutput protocol 1)."""
    kinds: list[str] = []
    relations: dict[int, Relation] = {}
    changes: list[Change] = []
    for message in messages:
        reader = _Reader(message)
        kind = chr(reader.take(">B"))
        kinds.append(kind)
        if kind == "R":
            oid = reader.take(">I")
            namespace, name = reader.string(), reader.string()
            reader.take(">B")  # replica identity
            columns = []
            for _ in range(reader.take(">h")):
                reader.take(">B")  # flags
                columns.append(reader.string())
                reader.take(">I")  # type oid
                reader.take(">i")  # type modifier
            relations[oid] = Relation(namespace, name, columns)
        elif kind in {"I", "U", "D"}:
            relation = relations[reader.take(">I")]
            if kind == "I":
                assert chr(reader.take(">B")) == "N"
                changes.append(
                    Change(
                        kind,
                        relation,
                        dict(zip(relation.columns, reader.tuple_data(), strict=True)),
                    )
                )
            else:
                changes.append(Change(kind, relation))
    return kinds, list(relations.values()), changes


def read_slot(engine: Engine, slot: str) -> list[bytes]:
    """Consume what the slot holds, as Debezium would (protocol 1, our publication)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT data FROM pg_logical_slot_get_binary_changes(:slot, NULL, NULL,"
                " 'proto_version', '1', 'publication_names', :pub)"
            ),
            {"slot": slot, "pub": PUBLICATION},
        ).scalars()
        return [bytes(row) for row in rows]


@pytest.fixture
def migrated(fresh_engine: Engine, fresh_database: str, tmp_path: Path) -> Engine:
    with fresh_engine.connect() as conn:
        if conn.execute(text("SHOW wal_level")).scalar() != "logical":
            pytest.skip("the test server does not run with wal_level = logical")
    migrate.upgrade(fresh_engine, settings_for(fresh_database, tmp_path))
    return fresh_engine


@pytest.fixture
def slot(migrated: Engine) -> Iterator[str]:
    """A slot of this test's own (slots are server-wide); dropped after, as it pins WAL."""
    name = f"mds_test_{uuid.uuid4().hex[:12]}"
    report = replication.setup(migrated, PUBLICATION, name, create_slot=True)
    assert report.publication_action == "created"
    assert report.slot_created and report.slot is not None
    assert (report.slot.name, report.slot.plugin) == (name, "pgoutput")
    try:
        yield name
    finally:
        assert replication.teardown(migrated, PUBLICATION, name) == (True, True)
    with migrated.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM pg_replication_slots WHERE slot_name = :n"), {"n": name}
        ).scalar()
    assert left == 0


def test_outbox_inserts_and_nothing_else_reach_the_slot(
    migrated: Engine, slot: str, tmp_path: Path
) -> None:
    sessions = sessionmaker(migrated, expire_on_commit=False)
    keyring = load_keyring(sessions, LocalKeyFileProvider(tmp_path / "kek.json"))
    outcomes = service(sessions, keyring).ingest(
        [signal("R-1", **ANA), signal("R-2", given_name="Bo", email="bo@example.com")]
    )
    user_ids = {str(o.user_id) for o in outcomes}
    with migrated.begin() as conn:
        events = {
            str(row.id): row
            for row in conn.execute(text("SELECT id, aggregateid, type FROM outbox")).all()
        }
        # Changes the publication must leave out: another table alone, and the relay marking
        # events published (an UPDATE of the outbox).
        conn.execute(text("UPDATE canonical_users SET updated_at = now()"))
    with migrated.begin() as conn:
        conn.execute(text("UPDATE outbox SET published_at = now()"))
    assert len(events) == 2

    kinds, relations, changes = decode(read_slot(migrated, slot))

    assert [(r.namespace, r.name) for r in relations] == [("public", "outbox")]
    assert set(kinds) <= {"B", "R", "I", "C"}, kinds  # no update, delete or other relation
    assert {c.kind for c in changes} == {"I"}
    inserted = {c.values["id"]: c.values for c in changes}
    assert set(inserted) == set(events)
    for event_id, values in inserted.items():
        assert values["type"] == events[event_id].type == "user.created"
        assert values["aggregateid"] == events[event_id].aggregateid
        assert values["aggregatetype"] == "user"
        payload = json.loads(values["payload"] or "null")
        assert payload["event_id"] == event_id
        assert payload["type"] == "user.created"
        # Relay mode's rows: sealed profile, aggregatetype `user`, which the connector drops.
        assert "profile_enc" in payload and "profile" not in payload
    assert {v["aggregateid"] for v in inserted.values()} == user_ids


def test_in_debezium_mode_events_live_only_in_the_wal_in_clear(
    migrated: Engine, slot: str, tmp_path: Path
) -> None:
    """Debezium mode: ingestion writes each event as published (profile in clear) and deletes
    it in the same transaction; the insert reaches the slot, the delete does not, and the table
    holds nothing after commit."""
    sessions = sessionmaker(migrated, expire_on_commit=False)
    keyring = load_keyring(sessions, LocalKeyFileProvider(tmp_path / "kek.json"))
    ingest = service(sessions, keyring)
    ingest.config = dataclasses.replace(ingest.config, debezium_outbox=True)
    [outcome] = ingest.ingest([signal("R-1", **ANA)])
    with migrated.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outbox")).scalar() == 0

    kinds, _, changes = decode(read_slot(migrated, slot))

    assert "D" not in kinds
    [change] = changes
    assert (change.kind, change.values["type"]) == ("I", "user.created")
    assert change.values["aggregatetype"] == DEBEZIUM_AGGREGATE_TYPE
    assert change.values["aggregateid"] == str(outcome.user_id)
    payload = json.loads(change.values["payload"] or "null")
    assert payload["event_id"] == change.values["id"]
    assert payload["profile"]["given_name"] == "Ana" and "profile_enc" not in payload


def test_setup_converges_a_drifted_publication_and_is_idempotent(migrated: Engine) -> None:
    with migrated.begin() as conn:
        conn.execute(
            text(
                f"CREATE PUBLICATION {PUBLICATION} FOR TABLE outbox, canonical_users"
                " WITH (publish = 'insert, update, delete')"
            )
        )
    try:
        first = replication.setup(migrated, PUBLICATION, "unused_slot_name")
        second = replication.setup(migrated, PUBLICATION, "unused_slot_name")
        assert (first.publication_action, second.publication_action) == ("updated", "unchanged")
        assert second.slot is None  # not asked to create it
        with migrated.connect() as conn:
            tables = (
                conn.execute(
                    text("SELECT tablename FROM pg_publication_tables WHERE pubname = :p"),
                    {"p": PUBLICATION},
                )
                .scalars()
                .all()
            )
            flags = conn.execute(
                text(
                    "SELECT pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication"
                    " WHERE pubname = :p"
                ),
                {"p": PUBLICATION},
            ).one()
        assert tables == ["outbox"]
        assert tuple(flags) == (True, False, False, False)
    finally:
        replication.teardown(migrated, PUBLICATION, "unused_slot_name")
