"""The collector settings a resolving process runs with."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from mds.gc_tuning import YOUNG_GENERATION_THRESHOLD, tune_for_resolution


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_startup_objects_are_frozen_and_young_collections_are_rarer() -> None:
    built_at_startup: list[object] = []  # stands for a module or a mapper
    assert any(o is built_at_startup for o in gc.get_objects())
    _, middle, old = gc.get_threshold()

    tune_for_resolution()

    assert not any(o is built_at_startup for o in gc.get_objects())  # no collection walks it
    assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, middle, old)
    cycle: list[object] = []
    cycle.append(cycle)  # garbage made after startup is still collected
    del cycle
    assert gc.collect() >= 1
