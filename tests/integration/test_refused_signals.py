"""Signals from the future, signals PostgreSQL cannot store, values no one should: rejected or
flagged one by one, never at the cost of the good signals beside them."""

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from mds.cli.import_batches import import_batch
from mds.security.keyring import Keyring
from mds.services.resolution.outcomes import Status
from mds.services.signal_files import ParsedLine
from mds.store import users
from mds.store.models import Signal as InboxRow
from mds.store.models import SourceIdentity
from mds.store.source_identities import get_attributes
from tests.integration.ingest_helpers import DEFECT, NOW, inject_defect, service, signal


def test_a_signal_postgresql_refuses_is_rejected_alone_and_the_batch_goes_on(
    connection: Connection, sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    # A real refusal from PostgreSQL, for a value that nothing upstream checks for.
    connection.execute(
        text("ALTER TABLE signals ADD CONSTRAINT refuse_poison CHECK (event_id <> 'poison')")
    )
    batch = [
        signal(f"C-{n}", event_id="poison" if n == 3 else None, given_name=f"P{n}")
        for n in range(6)
    ]
    outcomes = service(sessions, keyring).ingest(batch)

    assert [o.status for o in outcomes] == [Status.CREATED] * 3 + [Status.REJECTED] + [
        Status.CREATED
    ] * 2
    [error] = outcomes[3].errors
    assert error["message"].startswith("could not be stored: new row for relation")
    assert "refuse_poison" in error["message"]
    with sessions() as session:
        stored = set(session.scalars(select(SourceIdentity.source_record_id)))
        assert stored == {"C-0", "C-1", "C-2", "C-4", "C-5"}
        assert session.scalar(select(func.count()).select_from(InboxRow)) == 5


@pytest.mark.parametrize("size", [6, 20], ids=["pipelined", "copied-then-halved"])
def test_a_write_postgresql_refuses_after_resolution_rejects_that_signal_alone(
    connection: Connection, sessions: sessionmaker[Session], keyring: Keyring, size: int
) -> None:
    # Refused by a write made after the signal was resolved. Small batches send those writes
    # pipelined, where the error comes back with a later statement or when the pipeline ends;
    # large ones COPY, and their halves are small.
    connection.execute(
        text(
            "ALTER TABLE source_identities"
            " ADD CONSTRAINT refuse_poison CHECK (source_record_id <> 'C-3')"
        )
    )
    batch = [signal(f"C-{n}", given_name=f"P{n}", family_name=f"F{n}") for n in range(size)]
    outcomes = service(sessions, keyring).ingest(batch)

    assert [o.status for o in outcomes] == [
        Status.REJECTED if n == 3 else Status.CREATED for n in range(size)
    ]
    [error] = outcomes[3].errors
    assert "refuse_poison" in error["message"], error
    with sessions() as session:
        stored = set(session.scalars(select(SourceIdentity.source_record_id)))
    assert stored == {f"C-{n}" for n in range(size) if n != 3}


def test_control_characters_are_kept_raw_flagged_and_kept_out_of_the_golden_record(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    [outcome] = service(sessions, keyring).ingest(
        [
            signal(
                "C-1",
                given_name="Ana",
                family_name="\u001b[31mGarcía",
                preferences={"news\u0000letter": True},
            )
        ]
    )
    assert outcome.status is Status.CREATED
    assert {(i["attribute"], i["code"]) for i in outcome.issues} == {
        ("family_name", "control_character"),
        ("preferences", "control_character"),
    }
    with sessions() as session:
        identity = session.scalars(select(SourceIdentity)).one()
        raw = get_attributes(session, keyring, identity.id)
        record = users.get_user(session, keyring, outcome.user_id)  # type: ignore[arg-type]
    assert raw["family_name"] == "\u001b[31mGarcía"
    assert raw["preferences"] == {"news\u0000letter": True}
    assert record is not None
    assert record.profile.given_name == "Ana"
    assert record.profile.family_name is None and record.profile.preferences == {}


def test_a_signal_from_the_future_is_rejected_until_its_time_comes(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    ingest = service(sessions, keyring)  # its clock: NOW, then a second later per batch
    soon = (NOW + timedelta(minutes=4)).isoformat()  # within the 5 minutes of skew allowed
    later = (NOW + timedelta(hours=2)).isoformat()
    outcomes = ingest.ingest(
        [
            signal("C-1", given_name="Ana", at=soon),
            signal("C-2", event_id="from-2099", given_name="Luis", at="2099-01-01T00:00:00Z"),
            signal("C-3", event_id="eva-1", given_name="Eva", at=later),
        ]
    )
    assert [o.status for o in outcomes] == [Status.CREATED, Status.REJECTED, Status.REJECTED]
    [error] = outcomes[1].errors
    assert error["field"] == "occurred_at"
    assert "ahead of the service's clock (at most 300 s is allowed)" in error["message"]
    with sessions() as session:  # nothing of it kept, so it can come again
        assert set(session.scalars(select(SourceIdentity.source_record_id))) == {"C-1"}
        assert session.scalar(select(func.count()).select_from(InboxRow)) == 1

    ingest.config = replace(ingest.config, clock=lambda: NOW + timedelta(hours=3))
    [again] = ingest.ingest([signal("C-3", event_id="eva-1", given_name="Eva", at=later)])
    assert again.status is Status.CREATED


def test_an_import_line_whose_resolution_fails_is_refused_alone_and_the_rest_go_on(
    sessions: sessionmaker[Session], keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    inject_defect(monkeypatch)
    lines = [
        ParsedLine(n + 1, signal(f"C-{n}", given_name="Boom" if n == 3 else f"P{n}"))
        for n in range(6)
    ]
    ingest = service(sessions, keyring)
    report = import_batch(ingest, lines, "import:test")

    assert report.refused == [(4, f"resolution failed: RuntimeError: {DEFECT}")]
    assert report.decisions == {"created": 5}
    with sessions() as session:
        stored = set(session.scalars(select(SourceIdentity.source_record_id)))
        assert stored == {"C-0", "C-1", "C-2", "C-4", "C-5"}
        # Not in the inbox either: once the defect is fixed, importing the file again takes it.
        assert session.scalar(select(func.count()).select_from(InboxRow)) == 5

    monkeypatch.undo()  # the defect fixed
    again = import_batch(ingest, lines, "import:test")
    assert again.refused == []
    assert again.decisions == {"created": 1, "duplicate-ignored": 5}
