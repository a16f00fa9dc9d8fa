"""Identifiers for rows the service creates: time-ordered UUIDs (version 7, RFC 9562).

A random (version 4) id lands each new row on a random page of every index keyed by it; in a
store of millions of rows most such pages are not in memory, and each one touched after a
checkpoint writes a full-page image to the WAL. Ids that grow with time keep a batch's new rows
on a few right-hand pages. Measured on a 1M-user store: see bench/ingest.py and the README.

Within a process the ids also grow strictly in the order they are made (RFC 9562 §6.2, method
2: a value not above the last one becomes the last one plus one). Resolution breaks ties by id
(equal candidates, the user that survives a merge), so with purely random low bits two runs of
the same signals in the same order could end differently; now they end the same.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0x2 << 62
_RANDOM_BITS = 74  # 12 (rand_a) + 62 (rand_b): the bits after the 48-bit millisecond time


class _Increasing:
    """The last value handed out; a new one never at or below it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0
        # A forked child (an import worker) would continue from its parent's last value, as
        # would its siblings: two of them could hand out the same id. Each starts afresh.
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def above_last(self, candidate: int) -> int:
        with self._lock:
            self._last = candidate if candidate > self._last else self._last + 1
            return self._last


_sequence = _Increasing()


def new_id() -> uuid.UUID:
    """48 bits of Unix time in milliseconds, then 74 bits that are random unless the clock has
    not moved past the last id (version and variant set)."""
    millis = time.time_ns() // 1_000_000
    random_bits = int.from_bytes(os.urandom(10), "big") >> (80 - _RANDOM_BITS)
    value = _sequence.above_last(millis << _RANDOM_BITS | random_bits)
    millis, rest = value >> _RANDOM_BITS, value & ((1 << _RANDOM_BITS) - 1)
    rand_a, rand_b = rest >> 62, rest & ((1 << 62) - 1)
    return uuid.UUID(int=(millis << 80) | _VERSION_7 | (rand_a << 64) | _VARIANT_RFC | rand_b)
