"""Garbage-collector settings for the processes that resolve signals: the server, `mds` commands.

Resolving a batch allocates hundreds of thousands of short-lived objects. With CPython's
defaults (a young collection every 700 allocations, and full collections that walk every object
the process holds, modules and mappers included) the collector took 2.9 s of a 15 s,
5,000-signal `mds import` into the 1M-user benchmark store: 2,500 young and 20 full collections.
With startup frozen and this threshold it took about 0.6 s (timed with `gc.callbacks` in the
import process that `bench/ingest.py` starts).
"""

from __future__ import annotations

import gc

YOUNG_GENERATION_THRESHOLD = 10_000


def tune_for_resolution() -> None:
    """Once startup is done: keep what it built out of every later collection (modules,
    mappers, schemas: never garbage) and collect young objects less often."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
