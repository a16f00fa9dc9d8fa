"""Blocking keys too crowded to reach a candidate, remembered so their locks can be skipped.

A key carried by more linked identities than `match_keys.CANDIDATES_PER_KEY` reaches no one
(`ranked_candidates`), so an advisory lock on it orders nothing: two batches sharing only such a
key cannot find each other through it, locked or not. On a large store these are the commonest
names, and their locks made concurrent importers wait for each other's whole transaction.
A key only grows more crowded as identities arrive; erasures can thin it out again, so what is
remembered is forgotten after a while and learnt again: from the store for the next batch's keys,
then from each candidate query.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mds.store.match_keys import HashedKey

TTL_SECONDS = 600.0
MAX_KEPT = 200_000


@dataclass
class CrowdedKeys:
    ttl_seconds: float = TTL_SECONDS
    clock: Callable[[], float] = time.monotonic
    _keys: set[HashedKey] = field(default_factory=set)
    _since: float | None = None

    @property
    def empty(self) -> bool:
        """Nothing learnt (a new process, or forgotten): the next batch should ask the store."""
        return self._since is None

    def learn(self, keys: Iterable[HashedKey]) -> None:
        now = self.clock()
        if self._since is None or len(self._keys) >= MAX_KEPT:
            self._keys.clear()
            self._since = now
        self._keys.update(keys)

    def __contains__(self, key: object) -> bool:
        if self._since is not None and self.clock() - self._since >= self.ttl_seconds:
            self._keys.clear()
            self._since = None
        return key in self._keys
