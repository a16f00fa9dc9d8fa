"""Survivorship: the golden value of each attribute, chosen by explicit, recorded rules.

Only valid values reach here (normalization drops the invalid ones). For each attribute a chain
of criteria ranks the contributing source identities; the first criterion on which the winner
strictly beats the runner-up is the rule recorded in `attribute_lineage`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ONLY_SOURCE = "only_source"
SOURCE_TRUST = "source_trust"
MOST_RECENT = "most_recent"
MOST_COMPLETE = "most_complete"
TIE_BREAK = "tie_break"

# Identity attributes change rarely and errors are costly: trust first. Contact data goes stale:
# the most recent observation first.
TRUST_FIRST = (SOURCE_TRUST, MOST_RECENT, MOST_COMPLETE)
RECENCY_FIRST = (MOST_RECENT, SOURCE_TRUST, MOST_COMPLETE)
DEFAULT_CHAINS: Mapping[str, tuple[str, ...]] = {
    "given_name": TRUST_FIRST,
    "family_name": TRUST_FIRST,
    "date_of_birth": TRUST_FIRST,
    "government_id": TRUST_FIRST,
    "email": RECENCY_FIRST,
    "phone": RECENCY_FIRST,
    "address": (MOST_RECENT, MOST_COMPLETE, SOURCE_TRUST),
    "locale": RECENCY_FIRST,
    "preferences": RECENCY_FIRST,
}


@dataclass(frozen=True, slots=True)
class Contribution:
    """One source identity's current value for one attribute."""

    source_identity: Hashable
    source_system: str
    attribute: str
    value: Any
    observed_at: datetime
    signal_id: int | None = None


@dataclass(frozen=True, slots=True)
class Winner:
    contribution: Contribution
    rule: str


@dataclass(frozen=True)
class SurvivorshipRules:
    trust_order: tuple[str, ...] = ("crm", "support", "signup")
    chains: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_CHAINS))

    def trust(self, source_system: str) -> int:
        """Higher is more trusted; sources not listed rank below every listed one."""
        try:
            return len(self.trust_order) - self.trust_order.index(source_system)
        except ValueError:
            return 0


def _completeness(value: Any) -> int:
    if isinstance(value, dict):
        return sum(1 for v in value.values() if v not in (None, ""))
    return 1 if value not in (None, "") else 0


def _criteria(rules: SurvivorshipRules) -> dict[str, Callable[[Contribution], Any]]:
    return {
        SOURCE_TRUST: lambda c: rules.trust(c.source_system),
        MOST_RECENT: lambda c: c.observed_at,
        MOST_COMPLETE: lambda c: _completeness(c.value),
    }


def choose(contributions: list[Contribution], rules: SurvivorshipRules) -> Winner:
    if len(contributions) == 1:
        return Winner(contributions[0], ONLY_SOURCE)
    chain = rules.chains.get(contributions[0].attribute, RECENCY_FIRST)
    criteria = _criteria(rules)

    def rank(c: Contribution) -> tuple[Any, ...]:
        return (*(criteria[name](c) for name in chain), str(c.source_identity))

    ordered = sorted(contributions, key=rank, reverse=True)
    best, runner_up = ordered[0], ordered[1]
    for name in chain:
        if criteria[name](best) != criteria[name](runner_up):
            return Winner(best, name)
    if best.value == runner_up.value:
        # Several sources agree: the value is not in doubt; credit the best-ranked one.
        return Winner(best, chain[0])
    return Winner(best, TIE_BREAK)


def survive(contributions: Iterable[Contribution], rules: SurvivorshipRules) -> dict[str, Winner]:
    """Attribute → winning contribution and the rule that made it win."""
    by_attribute: dict[str, list[Contribution]] = {}
    for contribution in contributions:
        by_attribute.setdefault(contribution.attribute, []).append(contribution)
    return {attr: choose(group, rules) for attr, group in sorted(by_attribute.items())}
