"""How many identities carry each name value; common values are counted once in a while.

Counting a common name means reading thousands of index entries (up to the cap) for each batch
that mentions it. What stays put for such a value is its share of the store, not its count, so
a kept count is scaled by how much the store grew since it was taken. Rare values are always
counted again: one more "Xochitl" changes their weight.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from mds.store import match_keys
from mds.store.match_keys import HashedKey

COMMON_COUNT = 1_000
TTL_SECONDS = 300.0
MAX_KEPT = 100_000


@dataclass(frozen=True, slots=True)
class _Kept:
    at: float
    count: int
    population: int


@dataclass
class TermCounts:
    common: int = COMMON_COUNT
    ttl_seconds: float = TTL_SECONDS
    clock: Callable[[], float] = time.monotonic
    _kept: dict[HashedKey, _Kept] = field(default_factory=dict)

    def __call__(
        self, session: Session, keys: Sequence[HashedKey], population: int
    ) -> dict[HashedKey, int]:
        """Identities carrying each key, in a store of `population` identities."""
        now = self.clock()
        known: dict[HashedKey, int] = {}
        missing = []
        for key in dict.fromkeys(keys):
            kept = self._kept.get(key)
            if kept is not None and now - kept.at < self.ttl_seconds:
                known[key] = round(kept.count * population / max(kept.population, 1))
            else:
                missing.append(key)
        counted = match_keys.term_counts(session, missing)
        if len(self._kept) >= MAX_KEPT:
            self._kept.clear()  # crude but bounded; the common values come back within a batch
        for key, count in counted.items():
            if count >= self.common:
                self._kept[key] = _Kept(now, count, population)
        return counted | known
