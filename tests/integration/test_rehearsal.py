"""A rehearsal resolves as ingestion would and keeps nothing (`mds serve` warms up with it)."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session, sessionmaker

from mds.security.keyring import Keyring
from mds.services import rehearsal
from mds.services.ingest import IngestService
from mds.services.resolution.outcomes import Status
from mds.store.models import MatchKey, PotentialDuplicate
from tests.integration.ingest_helpers import service
from tests.integration.test_ingest import count, counts


def resolved_total() -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "mds_signals_resolved"
        for sample in metric.samples
        if sample.name == "mds_signals_resolved_total"
    )


def stored(session: Session) -> dict[str, int]:
    return counts(session) | {
        "match_keys": count(session, MatchKey),
        "potential_duplicates": count(session, PotentialDuplicate),
    }


def test_a_rehearsal_decides_as_ingestion_would_and_keeps_nothing(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    with sessions() as session:
        before = stored(session)
    metrics_before = resolved_total()

    rehearsed = service(sessions, keyring).rehearse(rehearsal.rehearsal_signals())

    # A creation, the same person from another record, an update of the first record.
    assert [o.status for o in rehearsed] == [Status.CREATED, Status.LINKED, Status.LINKED]
    assert len({o.user_id for o in rehearsed}) == 1
    with sessions() as session:
        assert stored(session) == before
    assert resolved_total() == metrics_before

    # The inbox kept nothing either: the same signals for real are new, not repeats.
    ingested = service(sessions, keyring).ingest(rehearsal.rehearsal_signals())
    assert [o.status for o in ingested] == [Status.CREATED, Status.LINKED, Status.LINKED]
    assert resolved_total() == metrics_before + 3


def test_a_failed_warm_up_is_logged_not_raised(
    sessions: sessionmaker[Session], keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: IngestService, *args: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(IngestService, "_ingest", broken)
    assert rehearsal.warm_up(lambda: service(sessions, keyring)) == []

    monkeypatch.undo()
    outcomes = rehearsal.warm_up(lambda: service(sessions, keyring))
    assert [o.status for o in outcomes] == [Status.CREATED, Status.LINKED, Status.LINKED]
