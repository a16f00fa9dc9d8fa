"""The fictional person a server resolves, and rolls back, before it takes requests.

A new process resolves its first signals several times slower than the next ones: its database
session starts with cold catalog and plan caches, and lazy tables (nicknames) load on first use.
At 100 requests/s the first one's extra 30-40 ms queues the next few behind it, and those were
the slowest requests of a benchmark run. Rehearsing a creation, a link and an update of one
made-up person pays that cost before the server listens.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from mds.domain.signals import Signal
from mds.services.ingest import IngestService
from mds.services.resolution.outcomes import SignalOutcome

log = structlog.get_logger(__name__)
REHEARSAL_SOURCE = "mds-rehearsal"
_SINCE = datetime(2020, 1, 1, tzinfo=UTC)
# Made up: Ofcom's drama range phone, a reserved domain, a DNI whose letter checks.
_PERSON = {
    "given_name": "Rehearsal",
    "family_name": "Warm-Up",
    "email": "rehearsal@mds.invalid",
    "phone": "+44 7700 900123",
    "date_of_birth": "1970-01-01",
    "address": {
        "line1": "1 Rehearsal Street",
        "locality": "Nowhere",
        "postal_code": "AB1 2CD",
        "country": "GB",
    },
    "government_id": {"type": "national_id", "country": "ES", "value": "12345678Z"},
}


def _signal(number: int, record: str, event_type: str, **changes: object) -> Signal:
    return Signal.model_validate(
        {
            "event_id": f"rehearsal-{number}",
            "source_system": REHEARSAL_SOURCE,
            "source_record_id": record,
            "event_type": event_type,
            "occurred_at": (_SINCE + timedelta(days=number)).isoformat(),
            "attributes": {**_PERSON, **changes},
        }
    )


def rehearsal_signals() -> list[Signal]:
    """A sign-up, the same person from a second record (a link), then an update of the first."""
    return [
        _signal(1, "rehearsal-a", "signup"),
        _signal(2, "rehearsal-b", "crm_import"),
        _signal(3, "rehearsal-a", "support_update", phone="+44 7700 900456"),
    ]


def warm_up(service: Callable[[], IngestService]) -> list[SignalOutcome]:
    """Rehearse; a failure is logged, never raised: the first requests are then only slower."""
    try:
        outcomes = service().rehearse(rehearsal_signals())
    except Exception:
        log.warning("warm_up.failed", exc_info=True)
        return []
    log.info("warm_up.done", decisions=[str(outcome.status) for outcome in outcomes])
    return outcomes
