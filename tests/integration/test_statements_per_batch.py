"""A batch costs the same SQL statements whatever its length: set-based, never a round trip per
record or per attribute."""

import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from psycopg import pq
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from mds.domain.signals import Signal
from mds.security.keyring import Keyring
from mds.services.ingest import IngestService
from mds.services.resolution.outcomes import Status
from tests.integration.ingest_helpers import service, signal

# 31 people who resemble no one else here.
GIVEN = [
    *("Ana", "Bruno", "Carla", "Diego", "Elena", "Fermín", "Gloria", "Hugo", "Irene", "Jacobo"),
    *("Lucía", "Marcos", "Nuria", "Óscar", "Paula", "Quique", "Rosa", "Saúl", "Teresa", "Ulises"),
    *("Valeria", "Wenceslao", "Ximena", "Yago", "Zoe", "Adrián", "Berta", "Ciro", "Dalia"),
    *("Eloy", "Fabiola"),
]
FAMILY = [
    *("Aguirre", "Blanco", "Castro", "Domínguez", "Echeverría", "Ferrer", "Gallego", "Herrera"),
    *("Iglesias", "Jiménez", "Lozano", "Medina", "Navarro", "Ortega", "Pascual", "Quintana"),
    *("Romero", "Serrano", "Torres", "Ugarte", "Vidal", "Zamora", "Arroyo", "Bermúdez"),
    *("Cabrera", "Delgado", "Espinosa", "Fuentes", "Guerrero", "Hidalgo", "Ibáñez"),
]


def person(n: int, *, source: str = "crm") -> Signal:
    """The n-th of the 31, with every kind of attribute."""
    return signal(
        f"{source.upper()}-{n}",
        source=source,
        given_name=GIVEN[n],
        family_name=FAMILY[n],
        email=f"persona{n}@example.com",
        phone=f"+34 612 {n:06d}",
        date_of_birth=f"19{50 + n % 40}-0{1 + n % 9}-1{n % 10}",
        address={
            "line1": f"Calle Mayor {n}",
            "locality": f"Pueblo {FAMILY[n]}",
            "postal_code": f"{10000 + 997 * n}",
            "country": "ES",
        },
    )


@contextmanager
def statements_on(connection: Connection) -> Iterator[list[str]]:
    """What the client sent PostgreSQL meanwhile, read from libpq's protocol trace: one entry
    per statement, whichever layer sent it (SQLAlchemy, psycopg, COPY)."""
    pgconn = connection.connection.driver_connection.pgconn  # type: ignore[union-attr]
    seen: list[str] = []
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield seen
        finally:
            pgconn.untrace()
            trace.seek(0)
            for line in trace:
                fields = line.rstrip("\n").split("\t")
                # F(rontend) Query: a simple-protocol statement (BEGIN, COPY); Execute: one of
                # the extended protocol. The test's own savepoints are left out.
                if fields[0] == "F" and fields[2] in {"Query", "Execute"}:
                    kind = fields[2] if fields[2] == "Execute" else fields[3].strip(' "').split()[0]
                    if kind not in {"SAVEPOINT", "RELEASE"}:
                        seen.append(kind)


def statements_for(
    connection: Connection, ingest: IngestService, batch: list[Signal], expected: Status
) -> Counter[str]:
    with statements_on(connection) as seen:
        outcomes = ingest.ingest(batch)
    assert {o.status for o in outcomes} == {expected}, [o.status for o in outcomes]
    return Counter(seen)


def test_a_batch_of_new_people_costs_what_one_new_person_costs(
    sessions: sessionmaker[Session], keyring: Keyring, connection: Connection
) -> None:
    ingest = service(sessions, keyring)
    # The first batch of a process also learns which keys are crowded (kept for minutes).
    statements_for(connection, ingest, [person(0)], Status.CREATED)
    one = statements_for(connection, ingest, [person(1)], Status.CREATED)
    many = statements_for(connection, ingest, [person(n) for n in range(2, 31)], Status.CREATED)
    # A few rows are inserted in a pipeline, many by COPY: as many statements either way.
    assert sum(many.values()) == sum(one.values()), (one, many)
    assert sum(one.values()) <= 18, one


def test_a_batch_of_links_costs_what_one_link_costs(
    sessions: sessionmaker[Session], keyring: Keyring, connection: Connection
) -> None:
    ingest = service(sessions, keyring)
    ingest.ingest([person(n) for n in range(31)])

    def link(people: range) -> list[Signal]:
        return [person(n, source="support") for n in people]

    one = statements_for(connection, ingest, link(range(1)), Status.LINKED)
    many = statements_for(connection, ingest, link(range(1, 31)), Status.LINKED)
    assert sum(many.values()) == sum(one.values()), (one, many)
    assert sum(one.values()) <= 24, one
