"""What resolution needs to know besides the data: model, thresholds, rules, clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from mds.config import OutboxMode, Settings
from mds.domain.survivorship import SurvivorshipRules
from mds.matching.decision import Thresholds
from mds.matching.parameters import DEFAULT_PARAMETERS, ModelParameters


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ResolutionConfig:
    parameters: ModelParameters = DEFAULT_PARAMETERS
    thresholds: Thresholds = field(default_factory=Thresholds)
    rules: SurvivorshipRules = field(default_factory=SurvivorshipRules)
    default_region: str | None = None
    clock: Callable[[], datetime] = _utcnow
    # How far ahead of the clock a signal's occurred_at may be (sources' clocks drift).
    max_clock_skew: timedelta = timedelta(minutes=5)
    # The prior of a match is set by the store's size; during a bulk load into a young store
    # the size it will reach is the better measure (see `IngestService.expect_load`).
    expected_identities: int = 0
    # Events for Debezium (written to the WAL, deleted at once) instead of the built-in relay.
    debezium_outbox: bool = False

    @classmethod
    def from_settings(
        cls, settings: Settings, parameters: ModelParameters = DEFAULT_PARAMETERS
    ) -> ResolutionConfig:
        return cls(
            parameters=parameters,
            thresholds=Thresholds(
                link=settings.link_threshold,
                review=settings.review_threshold,
                household_name_bits=settings.household_name_bits,
            ),
            rules=SurvivorshipRules(trust_order=settings.source_trust_order),
            default_region=settings.default_region,
            max_clock_skew=timedelta(seconds=settings.max_clock_skew_seconds),
            expected_identities=settings.expected_identities,
            debezium_outbox=settings.outbox_mode is OutboxMode.DEBEZIUM,
        )
