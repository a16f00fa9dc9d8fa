"""Building signals and a service for ingestion tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from mds.domain.normalization import NormalizedRecord
from mds.domain.signals import Signal
from mds.security.keyring import Keyring
from mds.services.ingest import IngestService
from mds.services.resolution import resolver
from mds.services.resolution.config import ResolutionConfig
from mds.services.resolution.outcomes import SignalOutcome

_ids = itertools.count(1)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def signal(
    record: str,
    *,
    source: str = "crm",
    at: str = "2026-11-01T10:00:00Z",
    event_type: str = "crm_import",
    event_id: str | None = None,
    **attributes: Any,
) -> Signal:
    return Signal.model_validate(
        {
            "event_id": event_id or f"evt-{next(_ids)}",
            "source_system": source,
            "source_record_id": record,
            "event_type": event_type,
            "occurred_at": at,
            "attributes": attributes,
        }
    )


def service(sessions: Callable[[], Session], keyring: Keyring, **kwargs: Any) -> IngestService:
    ticks = itertools.count()
    # A clock that moves a second per batch: deterministic, and later batches are later.
    config = ResolutionConfig(
        default_region="ES", clock=lambda: NOW + timedelta(seconds=next(ticks))
    )
    return IngestService(sessions, keyring, config, **kwargs)


ANA = {
    "given_name": "Ana",
    "family_name": "García",
    "email": "ana.garcia@example.com",
    "phone": "+34 612 345 678",
    "date_of_birth": "1990-04-01",
}


def bridged_users(ingest: IngestService) -> tuple[SignalOutcome, SignalOutcome, SignalOutcome]:
    """Ana García twice, once known by her email and once by her phone and birth date (two
    users), then a record with all three, which links the two: the outcomes of the three
    signals. (A phone and a common name alone could be her daughter's.)"""
    ana = {"given_name": "Ana", "family_name": "García"}
    by_phone = {"phone": "612345678", "date_of_birth": "1990-04-01"}
    [a] = ingest.ingest([signal("C-1", **ana, email="a@x.com")])
    [b] = ingest.ingest([signal("S-1", source="signup", **ana, **by_phone)])
    [bridge] = ingest.ingest([signal("T-1", source="support", **ana, email="a@x.com", **by_phone)])
    return a, b, bridge


DEFECT = "a defect only this record reaches"


def inject_defect(monkeypatch: Any, given_name: str = "Boom") -> None:
    """Resolution fails for records with this given name, as a defect would (raised from the
    normalization every signal goes through), and only for them."""
    normalize = resolver.normalize_raw

    def defective(raw: dict[str, Any], config: ResolutionConfig, today: date) -> NormalizedRecord:
        if raw.get("given_name") == given_name:
            raise RuntimeError(DEFECT)
        return normalize(raw, config, today)

    monkeypatch.setattr(resolver, "normalize_raw", defective)
